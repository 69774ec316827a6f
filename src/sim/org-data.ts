/** Fixed word lists the seeded org draws from; changing them changes every generated org. */

export const FIRST_NAMES = [
  'Ava', 'Ben', 'Chloe', 'Daniel', 'Emma', 'Felix', 'Grace', 'Hugo', 'Isla', 'Jack', 'Kira', 'Liam', 'Maya',
  'Noah', 'Olivia', 'Peter', 'Quinn', 'Ruby', 'Sam', 'Tara', 'Umar', 'Vera', 'Will', 'Xena', 'Yusuf', 'Zoe',
  'Amir', 'Bianca', 'Carlos', 'Dana', 'Elif', 'Farah', 'Gustav', 'Hana', 'Ivan', 'Jun', 'Kofi', 'Lena',
  "Mary-Jo", 'Nils', "O'Neil", 'Priya', 'Rafael', 'Sofia', 'Tomas', 'Uma', 'Viktor', 'Wen', 'Yara', 'Zane',
];

export const LAST_NAMES = [
  'Smith', 'Jones', 'Garcia', 'Müller', 'Nguyen', 'Kim', 'Patel', 'Rossi', 'Silva', 'Novak', 'Cohen', 'Khan',
  'Larsen', 'Dubois', 'Tanaka', 'Okafor', 'Ivanova', 'Haddad', 'Brown', 'Wilson', 'Taylor', 'Moore', 'Clark',
  'Lewis', 'Walker', 'Hall', 'Young', 'King', 'Wright', 'Lopez', 'Hill', 'Green', 'Adams', 'Baker', 'Nelson',
  'Carter', 'Mitchell', 'Perez', 'Roberts', 'Turner', 'Phillips', 'Campbell', 'Parker', 'Evans', 'Edwards',
  'Collins', 'Stewart', 'Sanchez', 'Morris', 'Rogers',
];

export const DEPARTMENTS = ['Engineering', 'Sales', 'Marketing', 'Finance', 'Support', 'Legal', 'People', 'Operations'];

export const CLIENT_NAMES = [
  'Expense Portal', 'Wiki', 'Build Dashboard', 'HR Self Service', 'Travel Booking', 'Analytics', 'Ticketing',
  'Design Review', 'Payroll', 'Status Page', 'Chat Bot', 'Mobile App', 'Partner Portal', 'Code Search',
];

export const GROUP_NAMES = ['Everyone-ish', 'Contractors', 'Admins', 'Interns', 'Managers', 'Remote', 'EMEA', 'APAC'];

export function groupName(g: number): string {
  return `${GROUP_NAMES[g % GROUP_NAMES.length]} ${g}`;
}

/** Names repeat with a number once the list runs out, so every client name is unique. */
export function clientName(c: number): string {
  const base = CLIENT_NAMES[c % CLIENT_NAMES.length] ?? 'App';
  return c < CLIENT_NAMES.length ? base : `${base} ${Math.floor(c / CLIENT_NAMES.length) + 1}`;
}

const KNOWN_SCOPES: Record<string, { displayName: string; description: string }> = {
  'okta.users.read': { displayName: 'Read users', description: 'Allows the app to read the information about users in your Okta organization.' },
  openid: { displayName: 'openid', description: 'Signals that a request is an OpenID request.' },
  profile: { displayName: 'Profile', description: "Allows this application to access the user's profile information." },
  email: { displayName: 'Email', description: "Allows this application to access the user's email address." },
  offline_access: { displayName: 'Offline access', description: 'Allows this application to keep accessing data when the user is not present.' },
  'api:read': { displayName: 'Read API data', description: 'Read access to the example API.' },
  'api:write': { displayName: 'Write API data', description: 'Write access to the example API.' },
};

export function scopeInfo(name: string): { displayName: string; description: string } {
  return KNOWN_SCOPES[name] ?? { displayName: name, description: `Custom scope ${name}` };
}

/** Okta API scopes are issued by the org authorization server, everything else by a custom one. */
export function isOrgScope(name: string): boolean {
  return name.startsWith('okta.');
}

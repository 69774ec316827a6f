export { CsvFileError } from './csv-file-error.ts';
export { DEFAULT_MAX_ROW_BYTES, readCsvTargets, type CsvSourceOptions } from './csv-source.ts';
export {
  readDirectoryTargets,
  requiredScopes,
  type DirectoryClient,
  type DirectorySourceKind,
  type DirectorySourceOptions,
} from './directory-source.ts';
export {
  targetKey,
  type InvalidRow,
  type SourceDescription,
  type SourceItem,
  type TargetDefaults,
  type TargetInput,
} from './target.ts';
export {
  formatInvalidRow,
  invalidRowsError,
  validateCsvFile,
  type CsvValidation,
  type ValidateCsvOptions,
} from './validate-csv.ts';

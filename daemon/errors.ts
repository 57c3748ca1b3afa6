/**
 * The error catalogue lives in database/errors.ts, a leaf that the database
 * layer can import without loading the daemon; this name stays for the
 * daemon's, the REST modules' and the CLI's imports.
 */
export * from '../database/errors';

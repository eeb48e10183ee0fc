export {
  type DatabaseObserver,
  EmbeddedDatabase,
  type EmbeddedDatabaseOptions,
  type ReducerCall,
  type ReducerCallResult,
} from './embedded-database.ts';
export { DATABASE_IDENTITY_HEX, identityForName } from './identity.ts';

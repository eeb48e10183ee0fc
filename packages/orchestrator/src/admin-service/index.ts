export { AdminService, type AdminServiceOptions } from './admin-service.ts';
export { grantDatabaseAdmin } from './grant-database-admin.ts';
export { ReadOnlySql } from './read-only-sql.ts';

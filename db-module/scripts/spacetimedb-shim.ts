// Bundle-only stand-in for the root `spacetimedb` entry inside the module bundle. The module's sources
// import `spacetimedb` (so plain Node can load them for the embedded host); in the bundle those imports
// must reach the server entry's copy of `table`, `t` and `SenderError`, because the server checks
// type builders with `instanceof` and treats only its own SenderError as a sender error.

// Value classes the server entry does not export; they are plain data to the server's serialiser.
export { Identity, Timestamp } from 'spacetimedb';
export * from 'spacetimedb/server';

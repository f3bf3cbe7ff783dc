//! The Smee-compatible relay server.

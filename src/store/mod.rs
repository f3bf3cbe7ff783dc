//! The durable delivery store (issue 4).

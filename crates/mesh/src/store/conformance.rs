//! The store conformance suite (placeholder: being written).

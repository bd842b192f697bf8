//! In-memory twin of the durable store (placeholder: being written).

/// An in-memory [`super::Store`].
#[derive(Debug, Default)]
pub struct MemStore;

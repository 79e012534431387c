//! The tokio driver. TODO(helper).

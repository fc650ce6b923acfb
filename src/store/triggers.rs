//! (placeholder: filled in by the triggers work)

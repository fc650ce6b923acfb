//! (placeholder: filled in by the channels work)

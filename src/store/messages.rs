//! (placeholder: filled in by the messages work)

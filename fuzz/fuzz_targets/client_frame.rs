#![no_main]
//! See `rtbox::fuzz_entry::client_frame` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtbox::fuzz_entry::client_frame(data));

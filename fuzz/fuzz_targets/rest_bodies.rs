#![no_main]
//! See `rtbox::fuzz_entry::rest_bodies` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtbox::fuzz_entry::rest_bodies(data));

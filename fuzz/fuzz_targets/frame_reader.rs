#![no_main]
//! See `rtbox::fuzz_entry::frame_reader` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rtbox::fuzz_entry::frame_reader(data));

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| updraft_aws::fuzz::s3_event(data));

#![no_main]

static HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HOOK.call_once(updraft_core::fuzz::allow_caught_panics);
    updraft_core::fuzz::spec(data)
});

//! Test fakes that speak real wire protocols over loopback (LLM providers).

#![forbid(unsafe_code)]

//! The HTTP/WebSocket gateway: the layer onion, routes, contract errors.

#![forbid(unsafe_code)]

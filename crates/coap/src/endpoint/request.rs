//! What the application hands to and receives from the endpoint: [`Request`], [`Response`] and
//! the [`Reliability`] a request travels with. Message IDs, tokens, Block and Observe sequence
//! options are the endpoint's business and are added or removed on the way.

use crate::msg::{Code, ContentFormat, OptionNumber, Options};

/// Whether a request (or notification) travels as CON or NON (RFC 7252 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// CON: retransmitted until acknowledged or given up.
    Confirmable,
    /// NON: sent once.
    NonConfirmable,
}

/// A request as the application sees it: method, options and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method code (0.01–0.31).
    pub method: Code,
    /// Options; Block1/Block2/Size1 are managed by the endpoint.
    pub options: Options,
    /// The whole body (reassembled or sliced block-wise by the endpoint).
    pub payload: Vec<u8>,
}

impl Request {
    /// A request with `method` on `path` (`"/3/0/0"`), no payload.
    pub fn new(method: Code, path: &str) -> Self {
        let mut options = Options::new();
        options.set_uri_path(path);
        Self { method, options, payload: Vec::new() }
    }

    /// GET `path`.
    pub fn get(path: &str) -> Self {
        Self::new(Code::GET, path)
    }

    /// POST `path`.
    pub fn post(path: &str) -> Self {
        Self::new(Code::POST, path)
    }

    /// PUT `path`.
    pub fn put(path: &str) -> Self {
        Self::new(Code::PUT, path)
    }

    /// DELETE `path`.
    pub fn delete(path: &str) -> Self {
        Self::new(Code::DELETE, path)
    }

    /// GET `path` with Observe: 0 (register an observation, RFC 7641 §3.1).
    pub fn observe(path: &str) -> Self {
        Self::get(path).with_option(OptionNumber::OBSERVE, Vec::new())
    }

    /// Sets the payload and its Content-Format.
    pub fn with_payload(mut self, format: ContentFormat, payload: impl Into<Vec<u8>>) -> Self {
        self.options.set_uint(OptionNumber::CONTENT_FORMAT, u32::from(format.0));
        self.payload = payload.into();
        self
    }

    /// Sets the payload without touching Content-Format.
    pub fn with_body(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Adds one option instance.
    pub fn with_option(mut self, number: OptionNumber, value: impl Into<Vec<u8>>) -> Self {
        self.options.push(number, value);
        self
    }

    /// Adds one Uri-Query item (`"ep=dev1"`).
    pub fn with_query(self, item: &str) -> Self {
        self.with_option(OptionNumber::URI_QUERY, item.as_bytes())
    }

    /// The Uri-Path as `"/a/b"` (`"/"` when empty).
    pub fn path(&self) -> String {
        let segments = self.options.uri_path();
        if segments.is_empty() {
            "/".to_owned()
        } else {
            segments.iter().map(|s| format!("/{s}")).collect()
        }
    }
}

/// A response (or notification) as the application sees it: code, options, the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response code (2.00–5.31).
    pub code: Code,
    /// Options; Observe sequence numbers and Block2/Size2 are managed by the endpoint.
    pub options: Options,
    /// The whole body (sliced or reassembled block-wise by the endpoint).
    pub payload: Vec<u8>,
}

impl Response {
    /// A response with `code`, no options, no payload.
    pub fn new(code: Code) -> Self {
        Self { code, options: Options::new(), payload: Vec::new() }
    }

    /// 2.05 Content with `payload` in `format`.
    pub fn content(format: ContentFormat, payload: impl Into<Vec<u8>>) -> Self {
        Self::new(Code::CONTENT).with_payload(format, payload)
    }

    /// Sets the payload and its Content-Format.
    pub fn with_payload(mut self, format: ContentFormat, payload: impl Into<Vec<u8>>) -> Self {
        self.options.set_uint(OptionNumber::CONTENT_FORMAT, u32::from(format.0));
        self.payload = payload.into();
        self
    }

    /// Sets the payload without touching Content-Format.
    pub fn with_body(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// Adds one option instance.
    pub fn with_option(mut self, number: OptionNumber, value: impl Into<Vec<u8>>) -> Self {
        self.options.push(number, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_constructors_split_into_uri_path_options() {
        let request = Request::get("/3/0/0");
        assert_eq!(request.options.uri_path(), ["3", "0", "0"]);
        assert_eq!(request.path(), "/3/0/0");
        assert_eq!(Request::get("").path(), "/");
        assert_eq!(Request::observe("/3/0").options.observe(), Some(0));
    }
}

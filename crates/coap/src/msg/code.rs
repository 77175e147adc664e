//! Method and response codes (RFC 7252 §5.8, §5.9, §12.1; RFC 8132; RFC 7959).

/// A CoAP code, `class << 5 | detail`, kept as the wire byte so unknown codes round-trip.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub u8);

macro_rules! codes {
    ($($name:ident = ($class:literal, $detail:literal),)*) => {
        impl Code {
            $(
                #[doc = concat!("Code ", stringify!($class), ".", stringify!($detail))]
                pub const $name: Self = Self(($class << 5) | $detail);
            )*

            fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    EMPTY = (0, 0),
    GET = (0, 1),
    POST = (0, 2),
    PUT = (0, 3),
    DELETE = (0, 4),
    FETCH = (0, 5),
    PATCH = (0, 6),
    IPATCH = (0, 7),
    CREATED = (2, 1),
    DELETED = (2, 2),
    VALID = (2, 3),
    CHANGED = (2, 4),
    CONTENT = (2, 5),
    CONTINUE = (2, 31),
    BAD_REQUEST = (4, 0),
    UNAUTHORIZED = (4, 1),
    BAD_OPTION = (4, 2),
    FORBIDDEN = (4, 3),
    NOT_FOUND = (4, 4),
    METHOD_NOT_ALLOWED = (4, 5),
    NOT_ACCEPTABLE = (4, 6),
    REQUEST_ENTITY_INCOMPLETE = (4, 8),
    CONFLICT = (4, 9),
    PRECONDITION_FAILED = (4, 12),
    REQUEST_ENTITY_TOO_LARGE = (4, 13),
    UNSUPPORTED_CONTENT_FORMAT = (4, 15),
    UNPROCESSABLE_ENTITY = (4, 22),
    INTERNAL_SERVER_ERROR = (5, 0),
    NOT_IMPLEMENTED = (5, 1),
    BAD_GATEWAY = (5, 2),
    SERVICE_UNAVAILABLE = (5, 3),
    GATEWAY_TIMEOUT = (5, 4),
    PROXYING_NOT_SUPPORTED = (5, 5),
}

impl Code {
    /// A code from its class and detail.
    pub const fn new(class: u8, detail: u8) -> Self {
        Self((class << 5) | (detail & 0x1f))
    }

    /// The class (0 request/empty, 2 success, 4 client error, 5 server error).
    pub const fn class(self) -> u8 {
        self.0 >> 5
    }

    /// The detail.
    pub const fn detail(self) -> u8 {
        self.0 & 0x1f
    }

    /// 0.00.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// 0.01–0.31.
    pub const fn is_request(self) -> bool {
        self.class() == 0 && self.0 != 0
    }

    /// Classes 2–5.
    pub const fn is_response(self) -> bool {
        self.class() >= 2 && self.class() <= 5
    }

    /// Class 2.
    pub const fn is_success(self) -> bool {
        self.class() == 2
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{self} {name}"),
            None => write!(f, "{self}"),
        }
    }
}

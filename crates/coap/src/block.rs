//! Block-wise transfer primitives (RFC 7959): the Block1/Block2 option value, block sizes,
//! slicing a body into blocks and reassembling one from blocks.
//!
//! This module owns the arithmetic only; which message carries which block, and the tables of
//! transfers in progress, belong to the endpoint. Invariant: a reassembly never holds more than
//! the limit it was created with, and every block is checked against that limit before its bytes
//! are copied.

use crate::msg::{OptionNumber, Options};

/// A block size, 16 to 1024 bytes in powers of two; the wire SZX is `log2(size) − 4` (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockSize(u8);

impl BlockSize {
    /// 16 bytes (SZX 0).
    pub const S16: Self = Self(0);
    /// 32 bytes (SZX 1).
    pub const S32: Self = Self(1);
    /// 64 bytes (SZX 2).
    pub const S64: Self = Self(2);
    /// 128 bytes (SZX 3).
    pub const S128: Self = Self(3);
    /// 256 bytes (SZX 4).
    pub const S256: Self = Self(4);
    /// 512 bytes (SZX 5).
    pub const S512: Self = Self(5);
    /// 1024 bytes (SZX 6).
    pub const S1024: Self = Self(6);

    /// From the wire SZX; `None` for the reserved value 7 and above.
    pub const fn from_szx(szx: u8) -> Option<Self> {
        if szx <= 6 {
            Some(Self(szx))
        } else {
            None
        }
    }

    /// The wire SZX.
    pub const fn szx(self) -> u8 {
        self.0
    }

    /// The size in bytes.
    pub const fn bytes(self) -> usize {
        16 << self.0
    }

    /// The next smaller size, `None` at 16 bytes.
    pub const fn smaller(self) -> Option<Self> {
        if self.0 == 0 {
            None
        } else {
            Some(Self(self.0 - 1))
        }
    }
}

/// Largest block number the 3-byte option can carry (20 bits).
pub const MAX_BLOCK_NUM: u32 = (1 << 20) - 1;

/// A Block1 or Block2 option value: block number, more flag and size (§2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// Block number (NUM), counted in blocks of `size`.
    pub num: u32,
    /// The M bit: more blocks follow (or, in a Block1 answer, the server keeps the transfer open).
    pub more: bool,
    /// Block size.
    pub size: BlockSize,
}

/// Why a Block1/Block2 option value is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The option value is longer than 3 bytes.
    #[error("block option value of {len} bytes is longer than 3")]
    TooLong {
        /// Value length.
        len: usize,
    },
    /// SZX 7 is reserved.
    #[error("block option uses the reserved szx 7")]
    ReservedSzx,
    /// NUM × size does not fit the body limits we work with.
    #[error("block number {num} is out of range")]
    NumOutOfRange {
        /// Block number.
        num: u32,
    },
}

impl Block {
    /// Decodes an option value (0–3 bytes, RFC 7959 §2.2).
    pub fn decode(value: &[u8]) -> Result<Self, BlockError> {
        if value.len() > 3 {
            return Err(BlockError::TooLong { len: value.len() });
        }
        let raw = value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let size = BlockSize::from_szx((raw & 0x7) as u8).ok_or(BlockError::ReservedSzx)?;
        Ok(Self { num: raw >> 4, more: raw & 0x8 != 0, size })
    }

    /// The option value, shortest encoding.
    pub fn encode(self) -> Vec<u8> {
        crate::msg::encode_uint(
            (self.num.min(MAX_BLOCK_NUM) << 4) | (u32::from(self.more) << 3) | u32::from(self.size.0),
        )
    }

    /// Reads the option `number` (Block1 or Block2) from `options`; `Ok(None)` if absent.
    pub fn from_options(options: &Options, number: OptionNumber) -> Result<Option<Self>, BlockError> {
        options.get(number).map(Self::decode).transpose()
    }

    /// Byte offset of this block in the body.
    pub fn offset(self) -> usize {
        self.num as usize * self.size.bytes()
    }

    /// The block that starts at byte `offset` with `size` (offset must be a multiple of size for
    /// an exact result; it is rounded down otherwise).
    pub fn at_offset(offset: usize, more: bool, size: BlockSize) -> Result<Self, BlockError> {
        let num = offset / size.bytes();
        match u32::try_from(num) {
            Ok(num) if num <= MAX_BLOCK_NUM => Ok(Self { num, more, size }),
            _ => Err(BlockError::NumOutOfRange { num: u32::MAX }),
        }
    }
}

/// Block `num` of `body` at `size`: its bytes and whether more follow; `None` past the end
/// (block 0 of an empty body is the empty slice).
pub fn slice(body: &[u8], num: u32, size: BlockSize) -> Option<(&[u8], bool)> {
    let start = (num as usize).checked_mul(size.bytes())?;
    if start > body.len() || (start == body.len() && num != 0) {
        return None;
    }
    let end = start.saturating_add(size.bytes()).min(body.len());
    Some((&body[start..end], end < body.len()))
}

/// Why a block could not be added to a [`Reassembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// The block does not start where the body so far ends (4.08 for Block1).
    #[error("block at offset {offset} does not continue the body of {have} bytes")]
    OutOfOrder {
        /// Offset of the block received.
        offset: usize,
        /// Bytes reassembled so far.
        have: usize,
    },
    /// A block that announces more blocks is shorter or longer than its size.
    #[error("block of {len} bytes with more to follow does not match its size {size}")]
    WrongLength {
        /// Payload length.
        len: usize,
        /// Announced block size.
        size: usize,
    },
    /// The body would exceed the limit (4.13 for Block1).
    #[error("body of {would_be} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size the body would reach.
        would_be: usize,
        /// The limit.
        limit: usize,
    },
}

/// A body being reassembled from consecutive blocks, with a byte limit fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembly {
    body: Vec<u8>,
    limit: usize,
}

impl Reassembly {
    /// An empty body that may grow to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self { body: Vec::new(), limit }
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether nothing has arrived yet.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Appends `block`'s `payload`; it must start where the body ends, and a block that is not
    /// the last must be exactly its size long.
    pub fn push(&mut self, block: Block, payload: &[u8]) -> Result<(), ReassemblyError> {
        let offset = block.offset();
        if offset != self.body.len() {
            return Err(ReassemblyError::OutOfOrder { offset, have: self.body.len() });
        }
        if block.more && payload.len() != block.size.bytes() {
            return Err(ReassemblyError::WrongLength { len: payload.len(), size: block.size.bytes() });
        }
        let would_be = self.body.len().saturating_add(payload.len());
        if would_be > self.limit {
            return Err(ReassemblyError::TooLarge { would_be, limit: self.limit });
        }
        self.body.extend_from_slice(payload);
        Ok(())
    }

    /// The body so far.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_option_round_trips_rfc_7959_examples() {
        // §2.2: NUM 0, M 1, SZX 6 (1024) encodes as one byte 0x0e.
        let block = Block { num: 0, more: true, size: BlockSize::S1024 };
        assert_eq!(block.encode(), vec![0x0e]);
        assert_eq!(Block::decode(&[0x0e]), Ok(block));
        // NUM 0, M 0, SZX 0 is the empty value.
        assert_eq!(Block::decode(&[]), Ok(Block { num: 0, more: false, size: BlockSize::S16 }));
        let big = Block { num: 1_000_000, more: false, size: BlockSize::S128 };
        assert_eq!(Block::decode(&big.encode()), Ok(big));
    }

    #[test]
    fn reserved_szx_and_long_values_are_rejected() {
        assert_eq!(Block::decode(&[0x07]), Err(BlockError::ReservedSzx));
        assert_eq!(Block::decode(&[0, 0, 0, 0x16]), Err(BlockError::TooLong { len: 4 }));
    }

    #[test]
    fn slicing_covers_the_body_exactly_once() {
        let body: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let mut joined = Vec::new();
        let mut num = 0;
        while let Some((bytes, more)) = slice(&body, num, BlockSize::S128) {
            joined.extend_from_slice(bytes);
            num += 1;
            if !more {
                break;
            }
        }
        assert_eq!(num, 3);
        assert_eq!(joined, body);
        assert_eq!(slice(&body, 3, BlockSize::S128), None);
        assert_eq!(slice(&[], 0, BlockSize::S16), Some((&[][..], false)));
    }

    #[test]
    fn reassembly_refuses_gaps_and_oversize_bodies() {
        let mut r = Reassembly::new(40);
        r.push(Block { num: 0, more: true, size: BlockSize::S16 }, &[1; 16]).expect("first block");
        assert!(matches!(
            r.push(Block { num: 2, more: true, size: BlockSize::S16 }, &[1; 16]),
            Err(ReassemblyError::OutOfOrder { offset: 32, have: 16 })
        ));
        r.push(Block { num: 1, more: true, size: BlockSize::S16 }, &[2; 16]).expect("second block");
        assert!(matches!(
            r.push(Block { num: 2, more: false, size: BlockSize::S16 }, &[3; 9]),
            Err(ReassemblyError::TooLarge { would_be: 41, limit: 40 })
        ));
        r.push(Block { num: 2, more: false, size: BlockSize::S16 }, &[3; 8]).expect("last block");
        assert_eq!(r.len(), 40);
    }
}

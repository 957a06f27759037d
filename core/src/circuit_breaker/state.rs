//! The breaker's state word: kind, half-open probe slots and a generation, packed into one
//! `AtomicUsize` (32 bits suffice, so it is native on every target).
//!
//! | bits | field |
//! |---|---|
//! | 0–2 | kind: Closed, Opening, Open, HalfOpen, Isolated |
//! | 3–10 | probes admitted and still running (half-open) |
//! | 11–18 | probes that succeeded (half-open) |
//! | 19– | generation: +1 on every change of kind |
//!
//! `Opening` is the short-lived state in which the thread that won the transition writes
//! the open-until instant (two `AtomicU32`s); readers wait for it to become `Open`, and the
//! generation lets them detect that the instant they read belongs to another period.

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Closed = 0,
    Opening = 1,
    Open = 2,
    HalfOpen = 3,
    Isolated = 4,
}

const KIND_MASK: usize = 0b111;
const ADMITTED_SHIFT: u32 = 3;
const SUCCEEDED_SHIFT: u32 = 11;
const GEN_SHIFT: u32 = 19;
const COUNT_MASK: usize = 0xFF;
const GEN_MASK: usize = usize::MAX >> GEN_SHIFT;

/// The most half-open probes a breaker can be configured with.
pub(super) const MAX_PROBES: u32 = COUNT_MASK as u32;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Word(pub(super) usize);

impl Word {
    pub(super) fn new(kind: Kind, admitted: u32, succeeded: u32, generation: usize) -> Word {
        Word(
            kind as usize
                | ((admitted as usize & COUNT_MASK) << ADMITTED_SHIFT)
                | ((succeeded as usize & COUNT_MASK) << SUCCEEDED_SHIFT)
                | ((generation & GEN_MASK) << GEN_SHIFT),
        )
    }

    pub(super) fn kind(self) -> Kind {
        match self.0 & KIND_MASK {
            0 => Kind::Closed,
            1 => Kind::Opening,
            2 => Kind::Open,
            3 => Kind::HalfOpen,
            _ => Kind::Isolated,
        }
    }

    pub(super) fn admitted(self) -> u32 {
        ((self.0 >> ADMITTED_SHIFT) & COUNT_MASK) as u32
    }

    pub(super) fn succeeded(self) -> u32 {
        ((self.0 >> SUCCEEDED_SHIFT) & COUNT_MASK) as u32
    }

    pub(super) fn generation(self) -> usize {
        self.0 >> GEN_SHIFT
    }

    /// The word of the next period, of kind `kind`.
    pub(super) fn next(self, kind: Kind) -> Word {
        Word::new(kind, 0, 0, self.generation().wrapping_add(1))
    }

    pub(super) fn with_probes(self, admitted: u32, succeeded: u32) -> Word {
        Word::new(self.kind(), admitted, succeeded, self.generation())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_generation_wraps() {
        let w = Word::new(Kind::HalfOpen, 3, 200, 12345);
        assert_eq!(
            (w.kind(), w.admitted(), w.succeeded(), w.generation()),
            (Kind::HalfOpen, 3, 200, 12345)
        );
        let top = Word::new(Kind::Open, 0, 0, GEN_MASK);
        assert_eq!(top.next(Kind::Closed).generation(), 0);
        assert_eq!(top.next(Kind::Closed).kind(), Kind::Closed);
    }
}

//! A minimal `embassy-time` driver on the Cortex-M SysTick, at 1 MHz (`tick-hz-1_000_000`).
//!
//! SysTick counts the core clock (assumed 16 MHz, the reset clock of many Cortex-M4F parts)
//! and wraps every millisecond. Its exception extends the 24-bit counter to 64 bits (whole
//! milliseconds in `periods`) and wakes expired timers, so wakeups have 1 ms granularity
//! while `now()` has 1 µs resolution (the sub-millisecond part is read from the counter).
//! A real board would use its HAL's driver (a 32-bit timer with a compare alarm).

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// The clock SysTick counts.
const CORE_HZ: u32 = 16_000_000;
/// Core cycles per embassy tick (1 µs).
const CYCLES_PER_TICK: u32 = CORE_HZ / 1_000_000;
/// Embassy ticks per SysTick period (1 ms).
const TICKS_PER_PERIOD: u32 = 1_000;
/// SysTick reload value: one period is `RELOAD + 1` cycles.
const RELOAD: u32 = CYCLES_PER_TICK * TICKS_PER_PERIOD - 1;

const _: () = assert!(
    embassy_time_driver::TICK_HZ == 1_000_000,
    "driver assumes 1 MHz ticks"
);
const _: () = assert!(RELOAD < (1 << 24), "SysTick is a 24-bit counter");

struct SysTickDriver {
    /// Whole SysTick periods since `init`.
    periods: Mutex<Cell<u64>>,
    /// The earliest deadline in `queue` (`u64::MAX`: none).
    alarm: Mutex<Cell<u64>>,
    /// The timer queue (integrated into embassy-executor's tasks: no fixed capacity).
    queue: Mutex<RefCell<Queue>>,
}

impl SysTickDriver {
    /// The current time in ticks. Interrupts are masked, so `periods` is stable; a wrap the
    /// exception has not handled yet shows as a pending SysTick.
    fn now_cs(&self, cs: CriticalSection<'_>) -> u64 {
        let mut periods = self.periods.borrow(cs).get();
        let mut current = SYST::get_current();
        if SCB::is_pendst_pending() {
            periods += 1;
            current = SYST::get_current();
        }
        let elapsed = RELOAD.saturating_sub(current) / CYCLES_PER_TICK;
        periods * u64::from(TICKS_PER_PERIOD) + u64::from(elapsed)
    }

    /// SysTick exception: one more period; wake the timers that are due.
    fn on_period(&self) {
        critical_section::with(|cs| {
            let periods = self.periods.borrow(cs);
            periods.set(periods.get() + 1);
            let now = self.now_cs(cs);
            let alarm = self.alarm.borrow(cs);
            if now >= alarm.get() {
                alarm.set(self.queue.borrow_ref_mut(cs).next_expiration(now));
            }
        });
    }
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.now_cs(cs))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                // Wakes anything already due and returns the next deadline.
                let next = queue.next_expiration(self.now_cs(cs));
                self.alarm.borrow(cs).set(next);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    periods: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick: a 1 ms period on the core clock, with its exception enabled.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    DRIVER.on_period();
}

//! do-over on Embassy, for a Cortex-M4F (`thumbv7em-none-eabihf`).
//!
//! One task owns a (fake) peripheral in a `RefCell` and reads it every 100 ms through
//! `bulkhead → circuit breaker → retry → timeout`. The operation borrows the `RefCell`, so
//! its future is not `Send`: the stack runs it with `LocalPolicy::execute_local`.
//!
//! The cargo features `retry`, `timeout`, `breaker` and `bulkhead` select the layers
//! (`stack` = all four; a disabled layer is a zero-sized pass-through); with none, the task
//! reads the peripheral directly (`build.rs` sets `cfg(policies)` when any layer is on and
//! `cfg(all_policies)` when all four are). `size-report.sh` builds each variant and compares
//! its flash and RAM with that baseline.
#![no_std]
#![no_main]

mod time_driver;

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use do_over_core::error::DoOverError;
use embassy_executor::Spawner;
use embassy_time::Timer;
use panic_halt as _;

/// The peripheral's own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorError {
    /// The conversion had not finished (the data-ready bit was clear).
    NotReady,
}

/// The error a read returns: a policy's rejection or the peripheral's error.
pub type Error = DoOverError<SensorError>;

/// A stand-in for a memory-mapped ADC: a conversion counter and a data register.
struct FakeAdc {
    conversions: u32,
    data: u32,
}

impl FakeAdc {
    const fn new() -> Self {
        FakeAdc {
            conversions: 0,
            data: 0x0800,
        }
    }

    /// Reads the data register; every eighth conversion is not ready (a transient error).
    fn read(&mut self) -> Result<u16, SensorError> {
        // Opaque to the optimizer, like a volatile register read.
        self.conversions = core::hint::black_box(self.conversions.wrapping_add(1));
        self.data = core::hint::black_box(self.data ^ (self.conversions & 0x3f));
        if self.conversions.is_multiple_of(8) {
            Err(SensorError::NotReady)
        } else {
            Ok((self.data & 0x0fff) as u16)
        }
    }
}

/// One sensor read: start a conversion, wait for it, read the result.
async fn read_sensor(adc: &RefCell<FakeAdc>) -> Result<u16, Error> {
    Timer::after_micros(50).await;
    Ok(adc.borrow_mut().read()?)
}

/// What the rest of the firmware would consume.
static LAST_READING: AtomicU32 = AtomicU32::new(0);
static FAILED_READS: AtomicU32 = AtomicU32::new(0);

fn record(result: Result<u16, Error>) {
    match result {
        Ok(value) => LAST_READING.store(u32::from(value), Ordering::Relaxed),
        Err(_) => {
            FAILED_READS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(policies)]
mod policy {
    use do_over_core::policy::LocalPolicy;
    use do_over_core::wrap::Wrap;

    use super::Error;

    /// `bulkhead → breaker → retry → timeout → operation`, each on the Embassy timer.
    pub fn stack() -> impl LocalPolicy<Error> {
        Wrap::new(
            bulkhead(),
            Wrap::new(breaker(), Wrap::new(retry(), timeout())),
        )
    }

    /// One read at a time.
    #[cfg(feature = "bulkhead")]
    fn bulkhead() -> impl LocalPolicy<Error> {
        do_over_core::bulkhead::Bulkhead::<do_over_embassy::EmbassyTimer>::new(1)
    }

    /// Open after 5 consecutive failed reads; probe again after 1 s.
    #[cfg(feature = "breaker")]
    fn breaker() -> impl LocalPolicy<Error> {
        do_over_core::circuit_breaker::CircuitBreaker::<do_over_embassy::EmbassyTimer>::new(
            5,
            core::time::Duration::from_secs(1),
        )
    }

    /// Up to 3 retries, 2 ms apart.
    #[cfg(feature = "retry")]
    fn retry() -> impl LocalPolicy<Error> {
        do_over_core::retry::RetryPolicy::<do_over_embassy::EmbassyTimer>::fixed(
            3,
            core::time::Duration::from_millis(2),
        )
    }

    /// Each attempt gets 5 ms.
    #[cfg(feature = "timeout")]
    fn timeout() -> impl LocalPolicy<Error> {
        do_over_core::timeout::TimeoutPolicy::<do_over_embassy::EmbassyTimer>::new(
            core::time::Duration::from_millis(5),
        )
    }

    #[cfg(not(feature = "bulkhead"))]
    fn bulkhead() -> impl LocalPolicy<Error> {
        Passthrough
    }

    #[cfg(not(feature = "breaker"))]
    fn breaker() -> impl LocalPolicy<Error> {
        Passthrough
    }

    #[cfg(not(feature = "retry"))]
    fn retry() -> impl LocalPolicy<Error> {
        Passthrough
    }

    #[cfg(not(feature = "timeout"))]
    fn timeout() -> impl LocalPolicy<Error> {
        Passthrough
    }

    /// A disabled layer: runs the operation as is.
    #[cfg(not(all_policies))]
    struct Passthrough;

    #[cfg(not(all_policies))]
    impl<E> LocalPolicy<E> for Passthrough {
        fn run_local<F, Fut, T>(&self, op: F) -> impl Future<Output = Result<T, E>>
        where
            F: Fn() -> Fut + Copy,
            Fut: Future<Output = Result<T, E>>,
        {
            op()
        }
    }
}

#[embassy_executor::main]
async fn main(_spawner: Spawner) {
    let core = cortex_m::Peripherals::take().unwrap();
    time_driver::init(core.SYST);

    let adc = RefCell::new(FakeAdc::new());

    #[cfg(policies)]
    let policy = policy::stack();

    loop {
        #[cfg(policies)]
        let result = {
            use do_over_core::policy::LocalPolicy;
            // Borrows `adc` (a `RefCell`, not `Sync`): this future is not `Send`.
            policy.execute_local(|| read_sensor(&adc)).await
        };
        #[cfg(not(policies))]
        let result = read_sensor(&adc).await;

        record(result);
        Timer::after_millis(100).await;
    }
}

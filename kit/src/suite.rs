//! [`store_suite!`]: the whole kit against one store, in one line.

/// Generates the kit's tests for a [`Backend`](crate::Backend), in a module named `$name`:
///
/// ```ignore
/// leasehold_kit::store_suite!(sqlite, my_tests::SqliteBackend);
/// ```
///
/// `LEASEHOLD_CONFORMANCE_CASES` sets the number of conformance cases (default 2,000).
#[macro_export]
macro_rules! store_suite {
    ($name:ident, $backend:ty) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn conforms_to_the_core() {
                $crate::conformance::check::<$backend>($crate::conformance::cases(2_000));
            }
        }
    };
}

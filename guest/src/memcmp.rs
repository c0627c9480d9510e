//! A word-at-a-time `memcmp` for the component.
//!
//! Every ordered lookup of an environment ID (the state is a set ordered by ID) and every string
//! comparison ends in `memcmp`. Natively that is libc's vectorised one; in the wasm build it is
//! the byte-at-a-time loop of `compiler_builtins`, which the profile of a 10,000-environment put
//! showed as the component's hottest function (19 % of the put, against under 2 % natively).
//! [`compare`] reads 8 bytes at a time; on wasm32 it is installed as the `memcmp` and `bcmp`
//! symbols, which take precedence over the weak ones of `compiler_builtins`. Natively it is only
//! tested against the slice ordering it must reproduce.

/// `memcmp`: the sign of the difference of the first differing bytes (as unsigned) of the `n`
/// bytes at `a` and `b`, or 0 when they are equal.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n` and both pointers are valid for `n` bytes; the reads are unaligned.
        let (x, y) = unsafe {
            (
                a.add(i).cast::<u64>().read_unaligned(),
                b.add(i).cast::<u64>().read_unaligned(),
            )
        };
        if x != y {
            // Big-endian order of the words is the order of their first differing byte.
            return if u64::from_be(x) < u64::from_be(y) {
                -1
            } else {
                1
            };
        }
        i += 8;
    }
    while i < n {
        // SAFETY: `i < n`.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// The C `memcmp` of the wasm build.
///
/// # Safety
/// As [`compare`].
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract is `compare`'s.
    unsafe { compare(a, b, n) }
}

/// The C `bcmp` of the wasm build (equality only; LLVM turns `memcmp(..) == 0` into it).
///
/// # Safety
/// As [`compare`].
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract is `compare`'s.
    unsafe { compare(a, b, n) }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use proptest::prelude::*;

    fn sign(o: core::cmp::Ordering) -> i32 {
        o as i32
    }

    fn check(a: &[u8], b: &[u8]) {
        let n = a.len().min(b.len());
        let got = unsafe { compare(a.as_ptr(), b.as_ptr(), n) };
        assert_eq!(got.signum(), sign(a[..n].cmp(&b[..n])), "{a:?} {b:?}");
    }

    #[test]
    fn every_position_and_length_of_a_difference() {
        for len in 0..40usize {
            let base: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            check(&base, &base);
            for at in 0..len {
                for delta in [1u8, 0x7f, 0x80, 0xff] {
                    let mut other = base.clone();
                    other[at] = other[at].wrapping_add(delta);
                    check(&base, &other);
                    check(&other, &base);
                }
            }
        }
    }

    #[test]
    fn the_first_difference_decides_not_a_later_one() {
        // Equal words but for byte 0 (small) and byte 7 (large): byte 0 decides.
        check(&[1, 0, 0, 0, 0, 0, 0, 0], &[0, 0, 0, 0, 0, 0, 0, 0xff]);
        check(&[0, 0, 0, 0, 0, 0, 0, 0, 2], &[0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    proptest! {
        #[test]
        fn agrees_with_slice_ordering(a in proptest::collection::vec(any::<u8>(), 0..64),
                                      b in proptest::collection::vec(any::<u8>(), 0..64),
                                      shared in 0usize..64) {
            // A common prefix of random length makes long equal runs likely.
            let mut a2 = b[..shared.min(b.len())].to_vec();
            a2.extend_from_slice(&a);
            check(&a2, &b);
            check(&a, &b);
        }
    }
}

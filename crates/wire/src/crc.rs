//! CRC-32C (Castagnoli), the checksum of a Kafka v2 record batch (`crc` covers the batch from its
//! `attributes` to its end; Kafka's `DefaultRecordBatch.isValid`, `Crc32C`).
//!
//! Why a module of its own: checking the CRC of every produced batch, as Kafka does
//! (`LogValidator` through `UnifiedLog.analyzeAndValidateRecords`), was 17% of the broker's CPU per
//! produced record (BENCHMARKS.md, issue 18). The `crc32c` crate runs the SSE 4.2 `crc32`
//! instruction three streams at a time, about 18 GB/s here; on a CPU with AVX-512 and
//! VPCLMULQDQ (Intel since Ice Lake, AMD since Zen 4) this module folds 256 bytes per step with
//! carry-less multiplication instead, about 3 times as fast on a batch that is still in cache (a
//! frame just received). Shorter inputs, other CPUs and other architectures use the crate, which
//! is also the reference the tests compare against.
//!
//! The folding is the one of Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
//! Instruction" (Gopal et al., 2009), bit-reflected: a 128-bit lane `x` moves `D` bits further
//! down the message as `x.lo · (x^(D+32) mod P) ⊕ x.hi · (x^(D-32) mod P)`, whose result has the
//! same remainder as `x` shifted by `D`. The last 128 bits and the tail then go through the
//! `crc32` instruction, so no Barrett reduction is needed. The constants are computed at compile
//! time from the polynomial (`fold_constants_for`).
//!
//! This module's `unsafe` (besides `arena.rs`, the only one in the workspace) is confined to
//! `simd`: unaligned 64-byte loads inside the input slice, and calling the `target_feature`
//! function only after the features were detected at run time.

/// CRC-32C of `data` (initial value all ones, result inverted: the value Kafka stores).
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if data.len() >= simd::MIN_LEN && simd::available() {
        return !simd::update(!0, data);
    }
    ::crc32c::crc32c(data)
}

/// The polynomial 0x1EDC6F41 (Castagnoli) without its x^32 term, in normal bit order.
#[cfg(any(target_arch = "x86_64", test))]
const POLY: u64 = 0x1EDC_6F41;

/// `x^e mod P` for the 32-bit polynomial `poly` (without its x^32 term), in normal bit order.
#[cfg(any(target_arch = "x86_64", test))]
const fn x_pow_mod(poly: u64, e: u32) -> u64 {
    let mut r: u64 = 1;
    let mut i = 0;
    while i < e {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= (1 << 32) | poly;
        }
        i += 1;
    }
    r
}

/// The two multipliers that move a 128-bit lane `distance` bits down the message under `poly`:
/// for its low and its high 64 bits, bit-reflected and shifted by one as the reflected multiply
/// needs.
#[cfg(any(target_arch = "x86_64", test))]
const fn fold_constants_for(poly: u64, distance: u32) -> (u64, u64) {
    const fn reflected(poly: u64, e: u32) -> u64 {
        ((x_pow_mod(poly, e) as u32).reverse_bits() as u64) << 1
    }
    (
        reflected(poly, distance + 32),
        reflected(poly, distance - 32),
    )
}

/// [`fold_constants_for`] with CRC-32C's polynomial.
#[cfg(any(target_arch = "x86_64", test))]
const fn fold_constants(distance: u32) -> (u64, u64) {
    fold_constants_for(POLY, distance)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use std::arch::x86_64::{
        __m128i, __m512i, _mm_clmulepi64_si128, _mm_crc32_u8, _mm_crc32_u64, _mm_cvtsi32_si128,
        _mm_cvtsi128_si64, _mm_extract_epi64, _mm_set_epi64x, _mm_xor_si128,
        _mm512_castsi128_si512, _mm512_clmulepi64_epi128, _mm512_extracti32x4_epi32,
        _mm512_loadu_si512, _mm512_set4_epi64, _mm512_ternarylogic_epi64, _mm512_xor_si512,
    };

    use super::fold_constants;

    /// Multipliers, evaluated at compile time: a lane moved 256 bytes, 64 bytes, and the last
    /// reduction's 384, 256 and 128 bits.
    const BY_256_BYTES: (u64, u64) = fold_constants(256 * 8);
    const BY_64_BYTES: (u64, u64) = fold_constants(64 * 8);
    const BY_384_BITS: (u64, u64) = fold_constants(384);
    const BY_256_BITS: (u64, u64) = fold_constants(256);
    const BY_128_BITS: (u64, u64) = fold_constants(128);

    /// Inputs shorter than this go to the crate: the set-up (four 64-byte loads, the final
    /// reduction) only pays off past a few hundred bytes.
    pub(super) const MIN_LEN: usize = 256;

    /// Whether this CPU has what [`update`] uses (cached by `std` after the first call).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("vpclmulqdq")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("sse4.2")
    }

    /// The raw CRC-32C register after `data`, starting from `crc` (no inversions), for
    /// `data.len() >= MIN_LEN`. Call only where [`available`] returned true.
    pub(super) fn update(crc: u32, data: &[u8]) -> u32 {
        assert!(data.len() >= MIN_LEN, "simd::update needs {MIN_LEN} bytes");
        assert!(
            available(),
            "simd::update on a CPU without AVX-512 and VPCLMULQDQ"
        );
        // SAFETY: the CPU features `update_avx512` is compiled for were just checked.
        unsafe { update_avx512(crc, data) }
    }

    /// One 64-byte load from the start of `bytes` (at least 64 bytes long).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(bytes: &[u8]) -> __m512i {
        assert!(bytes.len() >= 64);
        // SAFETY: 64 bytes from `bytes.as_ptr()` are inside the slice (checked above), and
        // `_mm512_loadu_si512` has no alignment requirement. AVX-512F is enabled for this function,
        // which only code compiled for it can call without `unsafe`.
        unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
    }

    /// Each 128-bit lane of `x` moved down by the distance `k` was made for, plus `next`.
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    fn fold(x: __m512i, k: __m512i, next: __m512i) -> __m512i {
        let low = _mm512_clmulepi64_epi128(x, k, 0x00);
        let high = _mm512_clmulepi64_epi128(x, k, 0x11);
        // 0x96: a ^ b ^ c.
        _mm512_ternarylogic_epi64(low, high, next, 0x96)
    }

    /// One 128-bit lane moved down by the distance `k` was made for.
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold_lane(x: __m128i, k: (u64, u64)) -> __m128i {
        let k = _mm_set_epi64x(k.1 as i64, k.0 as i64);
        _mm_xor_si128(
            _mm_clmulepi64_si128(x, k, 0x00),
            _mm_clmulepi64_si128(x, k, 0x11),
        )
    }

    /// The same constants in every lane of a 512-bit register.
    #[target_feature(enable = "avx512f")]
    fn broadcast(k: (u64, u64)) -> __m512i {
        _mm512_set4_epi64(k.1 as i64, k.0 as i64, k.1 as i64, k.0 as i64)
    }

    #[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq,sse4.2")]
    fn update_avx512(crc: u32, data: &[u8]) -> u32 {
        // Four 512-bit accumulators, each 256 bytes apart from the next step's.
        let by_256 = broadcast(BY_256_BYTES);
        let by_64 = broadcast(BY_64_BYTES);
        let (first, mut rest) = data.split_at(256);
        // The register's initial value enters as the first 32 bits of the message.
        let mut x0 = _mm512_xor_si512(
            load(first),
            _mm512_castsi128_si512(_mm_cvtsi32_si128(crc as i32)),
        );
        let mut x1 = load(&first[64..]);
        let mut x2 = load(&first[128..]);
        let mut x3 = load(&first[192..]);
        while rest.len() >= 256 {
            x0 = fold(x0, by_256, load(rest));
            x1 = fold(x1, by_256, load(&rest[64..]));
            x2 = fold(x2, by_256, load(&rest[128..]));
            x3 = fold(x3, by_256, load(&rest[192..]));
            rest = &rest[256..];
        }
        let mut x = fold(x0, by_64, x1);
        x = fold(x, by_64, x2);
        x = fold(x, by_64, x3);
        while rest.len() >= 64 {
            x = fold(x, by_64, load(rest));
            rest = &rest[64..];
        }
        // The four lanes into one: lane 0 is the earliest, 384 bits before lane 3.
        let lane = |i| match i {
            0 => _mm512_extracti32x4_epi32(x, 0),
            1 => _mm512_extracti32x4_epi32(x, 1),
            2 => _mm512_extracti32x4_epi32(x, 2),
            _ => _mm512_extracti32x4_epi32(x, 3),
        };
        let folded = _mm_xor_si128(
            _mm_xor_si128(
                fold_lane(lane(0), BY_384_BITS),
                fold_lane(lane(1), BY_256_BITS),
            ),
            _mm_xor_si128(fold_lane(lane(2), BY_128_BITS), lane(3)),
        );
        // The last 128 bits through the crc32 instruction from a zero register (the initial
        // value is already in), then the tail of under 64 bytes.
        let mut c = _mm_crc32_u64(0, _mm_cvtsi128_si64(folded) as u64);
        c = _mm_crc32_u64(c, _mm_extract_epi64(folded, 1) as u64);
        let mut words = rest.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            c = _mm_crc32_u64(c, word);
        }
        let mut c = c as u32;
        for &byte in words.remainder() {
            c = _mm_crc32_u8(c, byte);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_fold_constants_match_the_published_ones_for_the_ieee_polynomial() {
        // The same derivation with CRC-32 (IEEE, 0x04C11DB7) gives the constants of Intel's paper
        // (as in zlib's and crc32fast's folding): checks the exponents and the bit order.
        const IEEE: u64 = 0x04C1_1DB7;
        assert_eq!(
            fold_constants_for(IEEE, 4 * 128),
            (0x1_5444_2bd4, 0x1_c6e4_1596)
        );
        assert_eq!(
            fold_constants_for(IEEE, 128),
            (0x1_7519_97d0, 0x0_ccaa_009e)
        );
    }

    #[test]
    fn known_answers() {
        // RFC 3720 (iSCSI) B.4 test vectors.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // Long inputs (the folding path where the CPU has it) against the crate.
        let long: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for len in [256, 257, 319, 320, 511, 512, 513, 4096, 65_536, 1_000_003] {
            assert_eq!(
                crc32c(&long[..len]),
                ::crc32c::crc32c(&long[..len]),
                "length {len}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any bytes, any length and alignment: the same CRC as the reference crate.
        #[test]
        fn agrees_with_the_reference(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            skip in 0usize..64,
        ) {
            let data = &data[skip.min(data.len())..];
            prop_assert_eq!(crc32c(data), ::crc32c::crc32c(data));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    #[allow(clippy::print_stderr)] // says which path was compared
    fn the_folding_path_agrees_where_the_cpu_has_it() {
        // The comparisons above only prove something about the folding where this CPU has it;
        // say so in the test output rather than pass silently on a CPU without it.
        if simd::available() {
            let data: Vec<u8> = (0..4096u32).map(|i| (i * 31) as u8).collect();
            assert_eq!(!simd::update(!0, &data), ::crc32c::crc32c(&data));
        } else {
            eprintln!("this CPU has no AVX-512 VPCLMULQDQ: only the crate's path was compared");
        }
    }
}

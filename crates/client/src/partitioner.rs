//! Kafka's default partitioner for keyed records: `toPositive(murmur2(key)) % partitions`, with
//! murmur2 as in Java's `org.apache.kafka.common.utils.Utils.murmur2` (seed `0x9747b28c`), so a
//! key lands on the same partition as with the Java client and librdkafka's
//! `murmur2_random` partitioner.
//!
//! Owns: the hash and the key → partition mapping. Unkeyed records are spread by the producer.
//!
//! # References
//! - Kafka `Utils.murmur2`, `Utils.toPositive`, `BuiltInPartitioner.partitionForKey`.
//! - librdkafka `rd_murmur2` and its unit test vectors (`rdmurmur2.c`).

/// Java's `Utils.murmur2` over `data`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit.
pub fn to_positive(value: i32) -> i32 {
    value & 0x7fff_ffff
}

/// The partition of a keyed record among `partitions` (must be positive).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    debug_assert!(partitions > 0);
    to_positive(murmur2(key)) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn java_test_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), *expected, "{}", String::from_utf8_lossy(key));
        }
    }

    /// librdkafka's `unittest_murmur2` ("kafka" → 0xd067cf64) and the Java values that Akka's
    /// `Murmur2Spec` pins.
    #[test]
    fn librdkafka_and_akka_test_vectors() {
        assert_eq!(murmur2(b"kafka") as u32, 0xd067_cf64);
        let cases: &[(&[u8], i32)] = &[
            (b"1", -1_993_445_489),
            (b"12", 126_087_238),
            (b"123", -267_702_483),
            (b"1234", -1_614_185_708),
            (b"12345", -1_188_365_604),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), *expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partitions_are_positive_and_in_range() {
        assert_eq!(partition_for_key(b"21", 1), 0);
        // toPositive(-973932308) = 1173551340; % 10 = 0; % 7 = 1173551340 % 7.
        assert_eq!(partition_for_key(b"21", 10), 1_173_551_340 % 10);
        assert_eq!(partition_for_key(b"21", 7), 1_173_551_340 % 7);
        for i in 0..1000 {
            let p = partition_for_key(format!("key-{i}").as_bytes(), 3);
            assert!((0..3).contains(&p));
        }
    }
}

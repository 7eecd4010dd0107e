//! WAV (RIFF, PCM) files with their real sizes: the canonical 44-byte header, little-endian
//! (docs/differences.md#voicemail-audio-per-record). The official function stored placeholder sizes (RIFF 0xFFFFFFBF, data
//! 0xFFFFFF9B) because it copied the body before the header was rewritten; this writes the header
//! from the data it is given, so both sizes are always exact.

use thiserror::Error;

/// The format of the voicemail recordings Amazon Connect streams: 8 kHz, mono, 16-bit PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits_per_sample: u16,
}

impl PcmFormat {
    pub const TELEPHONY: PcmFormat = PcmFormat { sample_rate: 8000, channels: 1, bits_per_sample: 16 };

    pub fn block_align(&self) -> u16 {
        self.channels * self.bits_per_sample.div_ceil(8)
    }

    pub fn byte_rate(&self) -> u32 {
        self.sample_rate * u32::from(self.block_align())
    }
}

pub const HEADER_LEN: usize = 44;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WavError {
    #[error("{0} bytes of PCM is not a whole number of {1}-byte frames")]
    PartialFrame(usize, u16),
    #[error("{0} bytes of PCM do not fit in a WAV file (4 GiB at the most)")]
    TooLarge(usize),
    #[error("not a PCM WAV file: {0}")]
    NotWav(String),
}

/// The 44-byte header for `data_len` bytes of PCM.
pub fn header(format: PcmFormat, data_len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36u32.wrapping_add(data_len)).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&format.channels.to_le_bytes());
    h[24..28].copy_from_slice(&format.sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&format.byte_rate().to_le_bytes());
    h[32..34].copy_from_slice(&format.block_align().to_le_bytes());
    h[34..36].copy_from_slice(&format.bits_per_sample.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// A whole WAV file: header and data.
pub fn encode(format: PcmFormat, pcm: &[u8]) -> Result<Vec<u8>, WavError> {
    let align = format.block_align();
    if align == 0 || !pcm.len().is_multiple_of(usize::from(align)) {
        return Err(WavError::PartialFrame(pcm.len(), align));
    }
    let len =
        u32::try_from(pcm.len()).ok().filter(|n| n.checked_add(36).is_some()).ok_or(WavError::TooLarge(pcm.len()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + pcm.len());
    out.extend_from_slice(&header(format, len));
    out.extend_from_slice(pcm);
    Ok(out)
}

/// Reads a canonical PCM WAV file back: its format and its data (checks both sizes).
pub fn decode(bytes: &[u8]) -> Result<(PcmFormat, &[u8]), WavError> {
    let bad = |why: &str| WavError::NotWav(why.to_string());
    if bytes.len() < HEADER_LEN || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    if &bytes[12..16] != b"fmt " || u32_at(16) != 16 || u16_at(20) != 1 || &bytes[36..40] != b"data" {
        return Err(bad("not the canonical 44-byte PCM header"));
    }
    let data_len = u32_at(40) as usize;
    if u32_at(4) as usize != 36 + data_len || bytes.len() != HEADER_LEN + data_len {
        return Err(bad("the RIFF or data size does not match the file"));
    }
    let format = PcmFormat { channels: u16_at(22), sample_rate: u32_at(24), bits_per_sample: u16_at(34) };
    if u32_at(28) != format.byte_rate() || u16_at(32) != format.block_align() {
        return Err(bad("byte rate or block align inconsistent with the format"));
    }
    Ok((format, &bytes[HEADER_LEN..]))
}

/// Whole seconds of audio, rounded up (the official `vm_duration`: bytes / 16000, ceiling).
pub fn duration_secs(format: PcmFormat, data_len: usize) -> u64 {
    let rate = u64::from(format.byte_rate()).max(1);
    (data_len as u64).div_ceil(rate)
}

/// Milliseconds of audio, rounded down.
pub fn duration_ms(format: PcmFormat, data_len: usize) -> u64 {
    let rate = u64::from(format.byte_rate()).max(1);
    data_len as u64 * 1000 / rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_the_canonical_ones_with_real_sizes() {
        let h = header(PcmFormat::TELEPHONY, 32000);
        let expected: Vec<u8> = [
            &b"RIFF"[..],
            &(36u32 + 32000).to_le_bytes(),
            b"WAVE",
            b"fmt ",
            &[0x10, 0, 0, 0],
            &[1, 0],
            &[1, 0],
            &[0x40, 0x1f, 0, 0],
            &[0x80, 0x3e, 0, 0],
            &[2, 0],
            &[0x10, 0],
            b"data",
            &32000u32.to_le_bytes(),
        ]
        .concat();
        assert_eq!(h.to_vec(), expected);
        // Not the official placeholders.
        assert_ne!(&h[4..8], &[0xbf, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn encode_and_decode_round_trip() {
        let pcm: Vec<u8> = (0..1000u16).flat_map(u16::to_le_bytes).collect();
        let file = encode(PcmFormat::TELEPHONY, &pcm).expect("encodes");
        assert_eq!(file.len(), 44 + 2000);
        let (format, data) = decode(&file).expect("decodes");
        assert_eq!(format, PcmFormat::TELEPHONY);
        assert_eq!(data, &pcm[..]);
        let empty = encode(PcmFormat::TELEPHONY, &[]).expect("empty is a valid file");
        assert_eq!(&empty[4..8], &36u32.to_le_bytes());
        assert_eq!(&empty[40..44], &[0, 0, 0, 0]);
    }

    #[test]
    fn partial_frames_and_broken_files_are_refused() {
        assert_eq!(encode(PcmFormat::TELEPHONY, &[1, 2, 3]), Err(WavError::PartialFrame(3, 2)));
        let mut file = encode(PcmFormat::TELEPHONY, &[0; 8]).unwrap();
        file[40] = 9;
        assert!(decode(&file).is_err());
        assert!(decode(b"RIFF").is_err());
        let mut placeholder = encode(PcmFormat::TELEPHONY, &[0; 8]).unwrap();
        placeholder[4..8].copy_from_slice(&[0xbf, 0xff, 0xff, 0xff]);
        assert!(decode(&placeholder).is_err(), "the official placeholder sizes are not a valid file");
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        let cases = [(0, 0), (1, 1), (15_999, 1), (16_000, 1), (16_001, 2), (32_000, 2), (48_000, 3)];
        for (bytes, secs) in cases {
            assert_eq!(duration_secs(PcmFormat::TELEPHONY, bytes), secs, "{bytes}");
        }
        assert_eq!(duration_ms(PcmFormat::TELEPHONY, 24_000), 1500);
    }
}

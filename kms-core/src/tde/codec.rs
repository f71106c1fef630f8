//! Big-endian field encoding for the TDE files: a growable writer and a bounds-checked reader
//! whose every failure names the field that did not fit.

use super::error::TdeError;

pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes(&[v])
    }
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    /// A string with a u16 length prefix (callers bound the length first).
    pub(crate) fn str16(&mut self, s: &str) -> &mut Self {
        let len = u16::try_from(s.len()).expect("callers bound string fields below 64 KiB");
        self.u16(len).bytes(s.as_bytes())
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in error messages.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TdeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| TdeError::Format(format!("{}: truncated at {field}", self.what)))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], TdeError> {
        let b = self.bytes(N, field)?;
        Ok(b.try_into().expect("bytes() returned exactly N bytes"))
    }
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, TdeError> {
        Ok(self.array::<1>(field)?[0])
    }
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, TdeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, TdeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, TdeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }
    /// Reads the 8-byte magic and the version byte a TDE file starts with and checks both;
    /// `kind` names the expected structure in the bad-magic message.
    pub(crate) fn preamble(
        &mut self,
        magic: &[u8; 8],
        version: u8,
        kind: &str,
    ) -> Result<(), TdeError> {
        if self.bytes(magic.len(), "magic")? != magic {
            return Err(TdeError::Format(format!(
                "{}: not a tkms TDE {kind} (bad magic)",
                self.what
            )));
        }
        let found = self.u8("version")?;
        if found != version {
            return Err(TdeError::Format(format!(
                "{}: unsupported version {found}",
                self.what
            )));
        }
        Ok(())
    }
    pub(crate) fn str16(&mut self, field: &'static str) -> Result<String, TdeError> {
        let len = usize::from(self.u16(field)?);
        let b = self.bytes(len, field)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| TdeError::Format(format!("{}: {field} is not UTF-8", self.what)))
    }
}

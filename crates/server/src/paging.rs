//! `limit` and `offset`, as ISC pages its lists: the one rule every list route checks them by.

use crate::error::{ApiError, ApiResult};

/// The page a list asks for: `limit` from 1 to `max` (`default` when absent) and `offset` from 0.
pub(crate) fn bounds(limit: Option<i64>, offset: Option<i64>, default: i64, max: i64) -> ApiResult<(i64, i64)> {
    let (limit, offset) = (limit.unwrap_or(default), offset.unwrap_or(0));
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(format!("`limit` must be from 1 to {max}, not {limit}")));
    }
    if offset < 0 {
        return Err(ApiError::bad_request(format!("`offset` must be 0 or more, not {offset}")));
    }
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_within_its_bounds_or_refused_saying_which() {
        assert_eq!(bounds(None, None, 50, 250).unwrap(), (50, 0));
        assert_eq!(bounds(Some(250), Some(10), 50, 250).unwrap(), (250, 10));
        assert!(bounds(Some(0), None, 50, 250).unwrap_err().message.contains("from 1 to 250, not 0"));
        assert!(bounds(Some(251), None, 50, 250).is_err());
        assert!(bounds(None, Some(-1), 50, 250).unwrap_err().message.contains("`offset`"));
    }
}

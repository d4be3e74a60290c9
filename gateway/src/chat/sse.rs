//! Server-sent events, as OpenAI-compatible servers and Flowise stream them: blocks separated by a
//! blank line, each with `data:` lines (Flowise also writes a `message:` line, which is ignored;
//! comment lines such as its `:heartbeat` carry no data, and keep a reply alive in `backend::sse_reply`,
//! which watches the bytes beneath this parser).
//!
//! Kept rather than `eventsource-stream`: these 40 tested lines are all of SSE the two backends use,
//! and liveness has to be judged on the raw bytes below any parser anyway.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// The `data` of each event of a byte stream, as it arrives. A transport error ends the stream
/// with `Err`; a clean end of the body ends it with `None`.
pub fn data_events<S, E>(body: S) -> impl Stream<Item = Result<String, E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    futures_util::stream::unfold((body, Vec::<u8>::new(), false), |(mut body, mut buf, mut done)| async move {
        loop {
            if let Some(end) = block_end(&buf) {
                let block: Vec<u8> = buf.drain(..end.0).collect();
                buf.drain(..end.1 - end.0);
                if let Some(data) = block_data(&block) {
                    return Some((Ok(data), (body, buf, done)));
                }
                continue;
            }
            if done {
                // A last block without its blank line still counts.
                let block = std::mem::take(&mut buf);
                return block_data(&block).map(|data| (Ok(data), (body, buf, true)));
            }
            match body.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some((Err(e), (body, buf, true))),
                None => done = true,
            }
        }
    })
}

/// (end of the block, start of the next) for the first blank line in `buf`.
fn block_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn block_data(block: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|rest| rest.strip_prefix(' ').unwrap_or(rest).trim_end_matches('\r'))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(chunks: &[&str]) -> Vec<String> {
        let owned: Vec<Result<Bytes, std::io::Error>> = chunks.iter().map(|c| Ok(Bytes::from(c.to_string()))).collect();
        data_events(futures_util::stream::iter(owned)).map(|r| r.expect("ok")).collect().await
    }

    #[tokio::test]
    async fn openai_events_split_across_chunks() {
        let got = collect(&["data: {\"a\":", "1}\n\ndata: [DO", "NE]\n\n"]).await;
        assert_eq!(got, ["{\"a\":1}", "[DONE]"]);
    }

    #[tokio::test]
    async fn flowise_message_lines_and_crlf() {
        let got = collect(&["message:\r\ndata:{\"event\":\"token\",\"data\":\"Hi\"}\r\n\r\nmessage:\ndata:{\"event\":\"end\",\"data\":\"[DONE]\"}"]).await;
        assert_eq!(got, ["{\"event\":\"token\",\"data\":\"Hi\"}", "{\"event\":\"end\",\"data\":\"[DONE]\"}"]);
    }

    #[tokio::test]
    async fn comments_and_empty_blocks_are_skipped() {
        assert_eq!(collect(&[": keep-alive\n\n\n\ndata: x\n\n"]).await, ["x"]);
    }
}

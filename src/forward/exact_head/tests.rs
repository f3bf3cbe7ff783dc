use super::*;

fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_marker_only_when_hyper_would_not_be_exact() {
    assert_eq!(
        order_marker(&h(&[("a", "1"), ("b", "2"), ("b", "3")])),
        None
    );
    assert_eq!(
        order_marker(&h(&[("x-multi", "1"), ("x-other", "2"), ("x-multi", "3")])).as_deref(),
        Some("x-multi,x-other,x-multi")
    );
    assert_eq!(
        order_marker(&h(&[("X-GitHub-Event", "push")])).as_deref(),
        Some("X-GitHub-Event")
    );
}

const HYPER: &str = "POST /hook?a=1 HTTP/1.1\r\nx-multi: one\r\nx-multi: two\r\n\
                     x-other: mid\r\nx-github-event: push\r\n\
                     x-hookrelay-header-order: X-Multi,X-Other,X-Multi,X-GitHub-Event\r\n\
                     host: localhost:3000\r\ncontent-length: 5\r\n\r\n";

#[test]
fn the_head_is_renamed_and_reordered_and_nothing_else_changes() {
    let (out, next) = rewrite(HYPER.as_bytes());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /hook?a=1 HTTP/1.1\r\nhost: localhost:3000\r\nX-Multi: one\r\nX-Other: mid\r\n\
         X-Multi: two\r\nX-GitHub-Event: push\r\ncontent-length: 5\r\n\r\n"
    );
    assert!(matches!(next, State::Body(5)));
}

#[test]
fn without_a_marker_the_head_is_as_hyper_wrote_it() {
    let plain = "GET / HTTP/1.1\r\nhost: a\r\n\r\n";
    let (out, next) = rewrite(plain.as_bytes());
    assert_eq!(out, plain.as_bytes());
    assert!(matches!(next, State::Body(0)));
    let chunked = "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n";
    assert!(matches!(rewrite(chunked.as_bytes()).1, State::Off));
}

/// A connection under test: records everything written to it.
#[derive(Default)]
struct Sink(Vec<u8>);

impl Write for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // a short write, to exercise the pending output
        let n = buf.len().min(7);
        self.get_mut().0.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_body_that_looks_like_a_head_is_never_rewritten() {
    let body = "\r\nx-hookrelay-header-order: Evil\r\nx: y\r\n\r\n";
    let mut head = HYPER.replace(
        "content-length: 5",
        &format!("content-length: {}", body.len()),
    );
    head.push_str(body);
    let twice = format!("{head}{head}");
    let mut conn = ExactHead::new(Sink::default());
    let waker = futures_noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut rest = twice.as_bytes();
    while !rest.is_empty() {
        match Pin::new(&mut conn).poll_write(&mut cx, rest) {
            Poll::Ready(Ok(n)) => rest = &rest[n..],
            other => panic!("{other:?}"),
        }
    }
    assert!(Pin::new(&mut conn).poll_flush(&mut cx).is_ready());
    let sent = String::from_utf8(conn.inner.0).unwrap();
    assert_eq!(sent.matches(body).count(), 2, "{sent}");
    assert_eq!(sent.matches("X-GitHub-Event: push").count(), 2, "{sent}");
    assert!(
        !sent.contains("x-hookrelay-header-order: X-Multi"),
        "{sent}"
    );
}

fn futures_noop_waker() -> std::task::Waker {
    std::task::Waker::noop().clone()
}

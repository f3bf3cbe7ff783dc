//! Frames written in pieces: the same bytes as the whole frame, bounded pieces, one shared
//! pin per event, and every piece within the budget.

use super::*;
use crate::delivery::WebhookRequest;

fn event(seq: u64, body: Vec<u8>) -> Arc<Event> {
    let request = WebhookRequest {
        method: "PUT".into(),
        path: "/sub/path".into(),
        query: "a=1&a=2".into(),
        headers: vec![
            ("Content-Type".into(), "application/octet-stream".into()),
            // escaped in the head like in the whole frame
            ("X-Evil".into(), "a\u{2028}b\u{85}id: x".into()),
        ],
        body: Bytes::from(body),
    };
    Arc::new(Event::stored(seq, format!("e-{seq}"), 42, request))
}

/// Not UTF-8, and a length that is neither a multiple of 3 nor of the piece size.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8 ^ 0x80).collect()
}

fn room(memory: &Memory) -> Room<'_, impl Fn() + Sync> {
    Room {
        memory,
        wait: Duration::from_millis(50),
        shed: || {},
    }
}

async fn start(ev: &Arc<Event>, memory: &Memory) -> Pieces {
    match Pieces::start(Arc::clone(ev), &room(memory)).await {
        Framed::Pieces(p) => p,
        _ => panic!("no pieces"),
    }
}

async fn next(p: &mut Pieces, memory: &Memory) -> Option<Bytes> {
    match p.next(&room(memory)).await {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(NoRoom)) => panic!("no room"),
    }
}

#[tokio::test]
async fn pieces_make_the_whole_frame_and_each_is_bounded() {
    let memory = Memory::new(256 << 20);
    let ev = event(1, binary(3 * 1024 * 1024 + 1));
    let mut p = start(&ev, &memory).await;
    let mut sent = Vec::new();
    let mut count = 0;
    while let Some(piece) = next(&mut p, &memory).await {
        assert!(
            piece.len() <= PIECE_BODY_BYTES / 3 * 4 + 4,
            "{}",
            piece.len()
        );
        sent.extend_from_slice(&piece);
        count += 1;
    }
    assert!(next(&mut p, &memory).await.is_none(), "done stays done");
    assert_eq!(
        count,
        1 + (3 * 1024 * 1024 + 1usize).div_ceil(PIECE_BODY_BYTES)
    );
    let whole = encode_frame(&ev, true);
    assert!(sent == whole.as_bytes(), "the pieces are the whole frame");
    // one `data:` line: the only line breaks end the `id:` line and the event
    let text = std::str::from_utf8(&sent).unwrap();
    assert_eq!(text.matches('\n').count(), 3);
    assert!(!text.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']));
    assert!(text.starts_with("id: e-1\ndata: {") && text.ends_with("\"}\n\n"));
    let data = text.strip_prefix("id: e-1\ndata: ").unwrap().trim_end();
    let d = wire::decode_event(data, usize::MAX).unwrap();
    assert_eq!(d.request, ev.request);
    drop(p);
    assert_eq!(memory.frames_in_use(), 0, "every share given back");
}

#[tokio::test]
async fn subscribers_writing_one_event_share_its_pin() {
    let memory = Memory::new(256 << 20);
    let size = 1 << 20;
    let ev = event(2, binary(size));
    let mut a = start(&ev, &memory).await;
    let b = start(&ev, &memory).await;
    assert_eq!(memory.frames_in_use(), size, "the body, once");
    let head = next(&mut a, &memory).await.unwrap();
    let piece = next(&mut a, &memory).await.unwrap();
    let pieces = memory.frames_in_use() - size;
    assert!(
        pieces >= head.len() + piece.len(),
        "pieces hold their bytes"
    );
    assert!(pieces <= 64 << 10, "{pieces}");
    drop((head, piece));
    assert_eq!(memory.frames_in_use(), size);
    drop(a);
    assert_eq!(memory.frames_in_use(), size, "b still writes it");
    drop(b);
    assert_eq!(memory.frames_in_use(), 0);
    // a new subscriber pins it again
    let c = start(&ev, &memory).await;
    assert_eq!(memory.frames_in_use(), size);
    drop(c);
}

#[tokio::test]
async fn a_subscriber_that_holds_its_pieces_runs_out_of_room() {
    // frames: 1 MiB; small frames and pieces 256 KiB, large 768 KiB
    let memory = Memory::new(4 << 20);
    let ev = event(3, binary(512 << 10));
    let mut p = start(&ev, &memory).await;
    let mut held = Vec::new();
    let no_room = loop {
        match p.next(&room(&memory)).await {
            Some(Ok(piece)) => held.push(piece),
            Some(Err(NoRoom)) => break true,
            None => break false,
        }
    };
    assert!(no_room, "queued pieces are bounded by the budget");
    assert!(held.len() >= 4 && held.len() <= 9, "{}", held.len());
    held.pop();
    assert!(
        next(&mut p, &memory).await.is_some(),
        "room again once one is written"
    );
}

#[tokio::test]
async fn an_event_dropped_while_waiting_for_its_pin_is_announced_as_dropped() {
    let memory = Memory::new(4 << 20); // large frames: 768 KiB
    let first = event(4, binary(512 << 10));
    let second = event(5, binary(512 << 10));
    let holding = start(&first, &memory).await;
    let room = Room {
        memory: &memory,
        wait: Duration::from_secs(30),
        shed: || {},
    };
    let waiting = Pieces::start(Arc::clone(&second), &room);
    tokio::pin!(waiting);
    assert!(
        futures_util::poll!(&mut waiting).is_pending(),
        "no room yet"
    );
    drop(second); // the ring drops it: the waiting subscriber holds it only weakly
    drop(holding);
    assert!(matches!(waiting.await, Framed::Dropped));
    assert_eq!(memory.frames_in_use(), 0);
}

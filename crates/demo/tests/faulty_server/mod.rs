//! A raw TCP HTTP/1.1 server that misbehaves on purpose, for the client limit tests and the bench:
//! it accepts and never answers, sends a chunked body without end, or answers a fixed response.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the server does with each request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Read the request, then hold the connection open and never answer.
    Hang,
    /// `status` (e.g. `200 OK`), `Transfer-Encoding: chunked`, and chunks of `chunk` bytes forever.
    EndlessChunked { status: &'static str, chunk: usize },
    /// `200 OK` announcing `declared` bytes, sending `body` (shorter), then closing: a truncated body.
    Truncated { declared: usize, body: String },
    /// `200 OK`, chunked, one byte of body every `every` forever: a body that never finishes.
    Trickle { every: std::time::Duration },
    /// A complete response: status line tail (e.g. `429 Too Many Requests`), extra header lines, body.
    Answer { status: &'static str, headers: Vec<String>, body: String },
}

/// A running faulty server. Dropping the runtime ends its tasks.
pub struct FaultyServer {
    pub addr: SocketAddr,
    /// Requests whose headers were read.
    pub requests: Arc<AtomicU64>,
    /// Body bytes handed to the kernel for endless bodies, over all connections.
    pub body_bytes_written: Arc<AtomicU64>,
    /// One message per endless body whose client went away (the write failed): the bytes written on it.
    pub client_gone: mpsc::UnboundedReceiver<u64>,
}

impl FaultyServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn start(fault: Fault) -> FaultyServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let requests = Arc::new(AtomicU64::new(0));
    let written = Arc::new(AtomicU64::new(0));
    let (gone_tx, gone_rx) = mpsc::unbounded_channel();
    let (r, w) = (requests.clone(), written.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (fault, r, w, gone) = (fault.clone(), r.clone(), w.clone(), gone_tx.clone());
            tokio::spawn(async move { serve(stream, fault, r, w, gone).await });
        }
    });
    FaultyServer { addr, requests, body_bytes_written: written, client_gone: gone_rx }
}

/// Read up to the end of the request headers (requests in these tests carry no body we need).
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    loop {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return true;
        }
        if buf.len() > 64 * 1024 {
            return false;
        }
    }
}

async fn serve(
    mut stream: TcpStream,
    fault: Fault,
    requests: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    gone: mpsc::UnboundedSender<u64>,
) {
    if !read_head(&mut stream).await {
        return;
    }
    requests.fetch_add(1, Ordering::Relaxed);
    match fault {
        Fault::Hang => {
            // Keep the socket open and silent until the client gives up (then read returns 0).
            let mut sink = [0u8; 1024];
            while let Ok(n) = stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        }
        Fault::EndlessChunked { status, chunk } => {
            let head =
                format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut frame = format!("{chunk:x}\r\n").into_bytes();
            frame.resize(frame.len() + chunk, b' ');
            frame.extend_from_slice(b"\r\n");
            let mut mine = 0u64;
            loop {
                if stream.write_all(&frame).await.is_err() {
                    let _ = gone.send(mine);
                    return;
                }
                mine += chunk as u64;
                written.fetch_add(chunk as u64, Ordering::Relaxed);
            }
        }
        Fault::Truncated { declared, body } => {
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{body}"
            );
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Fault::Trickle { every } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut mine = 0u64;
            loop {
                if stream.write_all(b"1\r\n \r\n").await.is_err() {
                    let _ = gone.send(mine);
                    return;
                }
                mine += 1;
                written.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(every).await;
            }
        }
        Fault::Answer { status, headers, body } => {
            let mut resp = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for h in headers {
                resp.push_str(&h);
                resp.push_str("\r\n");
            }
            resp.push_str("\r\n");
            resp.push_str(&body);
            let _ = stream.write_all(resp.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

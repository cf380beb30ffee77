//! A minimal SMTP server that accepts every message and records it, on one or
//! more ports (one per instance, so the test can tell which worker sent what).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    /// Index of the listener (port) it arrived on.
    pub listener: usize,
    pub recipients: Vec<String>,
    pub data: String,
}

pub struct SmtpSink {
    pub ports: Vec<u16>,
    received: Arc<Mutex<Vec<Received>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SmtpSink {
    /// Listens on `listeners` loopback ports; each DATA is acknowledged after
    /// `delay` (a slow relay, so that a batch takes a while to send).
    pub async fn start(listeners: usize, delay: Duration) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let (mut ports, mut tasks) = (Vec::new(), Vec::new());
        for index in 0..listeners {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            ports.push(listener.local_addr().unwrap().port());
            let received = received.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, index, delay, received.clone()));
                }
            }));
        }
        SmtpSink { ports, received, tasks }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn session(stream: TcpStream, listener: usize, delay: Duration, received: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut recipients = Vec::new();
    if write.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink.test\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let addr = line
                    .split_once(':')
                    .map(|(_, a)| a.trim().trim_matches(['<', '>']))
                    .unwrap_or("");
                recipients.push(addr.to_lowercase());
                b"250 OK\r\n"
            }
            "DATA" => {
                if write.write_all(b"354 end with .\r\n").await.is_err() {
                    return;
                }
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                tokio::time::sleep(delay).await;
                received.lock().unwrap().push(Received {
                    listener,
                    recipients: std::mem::take(&mut recipients),
                    data,
                });
                b"250 OK queued\r\n"
            }
            "RSET" | "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

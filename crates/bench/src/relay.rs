//! The relay's figures (the performance issue): a client reads the mock
//! provider directly (the physical limit) and through `yoi serve` (POST
//! input, the answer from the worker's WebSocket), in the same run, for
//! burst and paced answers at several stream counts; plus the memory of idle
//! workers and a fan-out to many subscribers of one worker. Ratios against
//! the direct read are the headline.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use yoi_test_support::{MockOpenAi, Reply};

use crate::client::{quantile_ms, Client, Socket};
use crate::procs::{TempDir, Yoi};
use crate::{BenchError, Figure, Size};

/// What one stream measured.
#[derive(Default)]
pub(crate) struct StreamTimes {
    pub(crate) tokens: usize,
    ttft: Duration,
    /// Gaps between consecutive tokens.
    gaps: Vec<Duration>,
    /// From the first token to the last.
    streaming: Duration,
    /// From the last token to the end of the answer (yoi: its terminal event).
    tail: Duration,
}

impl StreamTimes {
    /// The answer ended `since_start` after it was asked for.
    fn end(&mut self, since_start: Duration) {
        let last = self.ttft + self.streaming;
        self.tail = since_start.saturating_sub(last);
    }
}

fn note(times: &mut StreamTimes, last: &mut Option<Instant>, start: Instant) {
    let now = Instant::now();
    match last {
        None => times.ttft = now - start,
        Some(prev) => {
            times.gaps.push(now - *prev);
            times.streaming = now - start - times.ttft;
        }
    }
    *last = Some(now);
    times.tokens += 1;
}

/// One input through yoi, read from the worker's socket. The socket is
/// read while the input is posted, as a console does: a token reaches the
/// client when its frame arrives, whether or not the `202` (sent once the
/// input is committed) came first.
pub(crate) async fn through(
    client: &Client,
    worker: &str,
    socket: &mut Socket,
) -> Result<StreamTimes, BenchError> {
    let start = Instant::now();
    let poster = client.clone();
    let path = format!("{worker}/input");
    let posted = tokio::spawn(async move { poster.post(&path, json!({"text": "go"})).await });
    let times = read_run(socket, start).await;
    posted
        .await
        .map_err(|_| BenchError::Shape("the input's task failed"))??;
    times
}

/// The frames of one run, until its terminal event.
async fn read_run(socket: &mut Socket, start: Instant) -> Result<StreamTimes, BenchError> {
    let mut times = StreamTimes::default();
    let mut last = None;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .map_err(|_| BenchError::Shape("a run that never ended"))?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            _ => return Err(BenchError::Shape("the socket closed")),
        };
        if text.contains("\"type\":\"assistant_delta\"") {
            note(&mut times, &mut last, start);
        } else if text.contains("\"type\":\"run_completed\"")
            || text.contains("\"type\":\"run_failed\"")
        {
            times.end(start.elapsed());
            return Ok(times);
        }
    }
}

/// Everything `streams` parallel streams measured, and the wall time.
struct Round {
    streams: Vec<StreamTimes>,
    wall: Duration,
}

impl Round {
    fn tokens(&self) -> usize {
        self.streams.iter().map(|s| s.tokens).sum()
    }

    fn tok_per_s(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let tokens = self.tokens() as f64;
        tokens / self.wall.as_secs_f64()
    }

    fn ttft(&self, q: f64) -> f64 {
        let mut all: Vec<Duration> = self.streams.iter().map(|s| s.ttft).collect();
        quantile_ms(&mut all, q)
    }

    fn streaming_p50(&self) -> f64 {
        let mut all: Vec<Duration> = self.streams.iter().map(|s| s.streaming).collect();
        quantile_ms(&mut all, 0.5)
    }

    fn tail_p50(&self) -> f64 {
        let mut all: Vec<Duration> = self.streams.iter().map(|s| s.tail).collect();
        quantile_ms(&mut all, 0.5)
    }

    fn gap_p50(&self) -> f64 {
        let mut all: Vec<Duration> = self.streams.iter().flat_map(|s| s.gaps.clone()).collect();
        quantile_ms(&mut all, 0.5)
    }
}

/// Reads the mock's answers at `base` (the mock, or the pipe to it). Each
/// stream is one conversation, as a Worker's is: every request carries the
/// answers before it (`answer` each), so the mock parses the same growing
/// history for the direct reader as for yoi.
async fn direct_round(
    base: &str,
    streams: usize,
    runs: usize,
    answer: &str,
) -> Result<Round, BenchError> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let http = http.clone();
        let base = base.to_owned();
        let answer = answer.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut history = Vec::new();
            for _ in 0..runs {
                history.push(json!({"role": "user", "content": "go"}));
                out.push(direct_url(&http, &base, &history).await?);
                history.push(json!({"role": "assistant", "content": answer}));
            }
            Ok::<_, BenchError>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(
            t.await
                .map_err(|_| BenchError::Shape("a client task failed"))??,
        );
    }
    Ok(Round {
        streams: all,
        wall: start.elapsed(),
    })
}

/// Reads one SSE answer of the mock at `base` directly, to `messages`.
async fn direct_url(
    http: &reqwest::Client,
    base: &str,
    messages: &[serde_json::Value],
) -> Result<StreamTimes, BenchError> {
    let start = Instant::now();
    let mut resp = http
        .post(format!("{base}/chat/completions"))
        .json(&json!({"model": "m", "stream": true, "messages": messages}))
        .send()
        .await?;
    let mut times = StreamTimes::default();
    let mut last = None;
    let mut pending = String::new();
    while let Some(chunk) = resp.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if event.contains("\"content\":\"") && !event.contains("\"content\":\"\"") {
                note(&mut times, &mut last, start);
            }
        }
    }
    times.end(start.elapsed());
    Ok(times)
}

async fn yoi_round(client: &Client, workers: &[String], runs: usize) -> Result<Round, BenchError> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in workers {
        let client = client.clone();
        let worker = worker.clone();
        tasks.push(tokio::spawn(async move {
            let mut socket = client.events(&worker).await?;
            let mut out = Vec::new();
            for _ in 0..runs {
                out.push(through(&client, &worker, &mut socket).await?);
            }
            Ok::<_, BenchError>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(
            t.await
                .map_err(|_| BenchError::Shape("a client task failed"))??,
        );
    }
    Ok(Round {
        streams: all,
        wall: start.elapsed(),
    })
}

/// One scenario: the direct read and yoi, same mock reply, same stream count.
struct Scenario {
    name: &'static str,
    reply: Reply,
    /// The text of that reply, which the direct reader adds to its history.
    answer: String,
    streams: usize,
    runs: usize,
    targets: Targets,
}

#[derive(Default, Clone, Copy)]
struct Targets {
    min_tok_s: Option<f64>,
    max_cpu_per_1k: Option<f64>,
    max_added_ttft_p50: Option<f64>,
    full_rate: bool,
}

/// The bare pipe to the mock (see [`crate::pipe`]) and its base URL.
struct Pipe {
    process: Yoi,
    base: String,
}

impl Pipe {
    async fn start(mock: &MockOpenAi) -> Result<Pipe, BenchError> {
        let base = mock.base_url();
        let upstream = base
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .ok_or(BenchError::Shape("the mock's URL"))?;
        let process = crate::pipe::start(upstream).await?;
        let base = format!("http://127.0.0.1:{}/v1", process.port);
        Ok(Pipe { process, base })
    }
}

async fn scenario(
    s: &Scenario,
    mock: &MockOpenAi,
    pipe: &Pipe,
    yoi: &Yoi,
    client: &Client,
    out: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    mock.set_default(s.reply.clone());
    let mut workers = Vec::new();
    for _ in 0..s.streams {
        workers.push(
            client
                .create_worker("/api/runtimes/backend-internal")
                .await?,
        );
    }
    let direct = direct_round(&mock.base_url(), s.streams, s.runs, &s.answer).await?;
    let pipe_before = pipe.process.thread_cpu_ms();
    let piped = direct_round(&pipe.base, s.streams, s.runs, &s.answer).await?;
    let pipe_cpu = pipe.process.thread_cpu_ms() - pipe_before;
    let cpu_before = yoi.cpu_ms();
    let through = yoi_round(client, &workers, s.runs).await?;
    let cpu = yoi.cpu_ms() - cpu_before;
    #[allow(clippy::cast_precision_loss)]
    let cpu_per_1k = cpu * 1000.0 / through.tokens().max(1) as f64;
    let name = s.name;
    let t = s.targets;
    out.push(Figure::new(
        &format!("{name}: direct tok/s"),
        direct.tok_per_s(),
        "tok/s",
    ));
    let mut yoi_rate = Figure::new(&format!("{name}: yoi tok/s"), through.tok_per_s(), "tok/s");
    if let Some(min) = t.min_tok_s {
        yoi_rate = yoi_rate.at_least(min);
    }
    if t.full_rate {
        yoi_rate = yoi_rate.at_least(direct.tok_per_s() * 0.95);
    }
    out.push(yoi_rate);
    out.push(Figure::new(
        &format!("{name}: yoi/direct rate"),
        through.tok_per_s() / direct.tok_per_s(),
        "x",
    ));
    let mut cpu_fig = Figure::new(&format!("{name}: yoi CPU per 1k tokens"), cpu_per_1k, "ms");
    if let Some(max) = t.max_cpu_per_1k {
        cpu_fig = cpu_fig.at_most(max);
    }
    out.push(cpu_fig);
    let mut ttft = Figure::new(
        &format!("{name}: added TTFT p50"),
        through.ttft(0.5) - direct.ttft(0.5),
        "ms",
    );
    if let Some(max) = t.max_added_ttft_p50 {
        ttft = ttft.at_most(max);
    }
    out.push(ttft);
    out.push(Figure::new(
        &format!("{name}: added TTFT p99"),
        through.ttft(0.99) - direct.ttft(0.99),
        "ms",
    ));
    out.push(Figure::new(
        &format!("{name}: added gap per token p50"),
        through.gap_p50() - direct.gap_p50(),
        "ms",
    ));
    out.push(Figure::new(
        &format!("{name}: added first-to-last token p50"),
        through.streaming_p50() - direct.streaming_p50(),
        "ms",
    ));
    out.push(Figure::new(
        &format!("{name}: added last token to end p50"),
        through.tail_p50() - direct.tail_p50(),
        "ms",
    ));
    floor(name, &direct, &piped, pipe_cpu, cpu_per_1k, out);
    Ok(())
}

/// The bare pipe's figures beside yoi's: the least a relay costs here.
fn floor(
    name: &str,
    direct: &Round,
    piped: &Round,
    pipe_cpu: f64,
    yoi_per_1k: f64,
    out: &mut Vec<Figure>,
) {
    #[allow(clippy::cast_precision_loss)]
    let pipe_per_1k = pipe_cpu * 1000.0 / piped.tokens().max(1) as f64;
    out.push(Figure::new(
        &format!("{name}: bare pipe tok/s"),
        piped.tok_per_s(),
        "tok/s",
    ));
    out.push(Figure::new(
        &format!("{name}: bare pipe CPU per 1k tokens"),
        pipe_per_1k,
        "ms",
    ));
    // A pipe that measured no CPU at all has no ratio to give.
    if pipe_per_1k > 0.0 {
        out.push(Figure::new(
            &format!("{name}: yoi CPU / bare pipe CPU"),
            yoi_per_1k / pipe_per_1k,
            "x",
        ));
    }
    out.push(Figure::new(
        &format!("{name}: bare pipe added TTFT p50"),
        piped.ttft(0.5) - direct.ttft(0.5),
        "ms",
    ));
}

pub(crate) fn tokens(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!(" t{i}"))
}

fn scenarios(size: Size) -> Vec<Scenario> {
    let paced = Duration::from_millis(10);
    let paced_tokens = size.pick(50, 200);
    vec![
        Scenario {
            name: "burst, 1 stream",
            reply: Reply::tokens(tokens(200)),
            answer: tokens(200).collect(),
            streams: 1,
            runs: size.pick(20, 100),
            targets: Targets {
                min_tok_s: Some(100_000.0),
                max_cpu_per_1k: Some(10.0),
                ..Targets::default()
            },
        },
        Scenario {
            name: "burst, 16 streams",
            reply: Reply::tokens(tokens(200)),
            answer: tokens(200).collect(),
            streams: 16,
            runs: size.pick(4, 20),
            targets: Targets::default(),
        },
        Scenario {
            name: "burst, 64 streams",
            reply: Reply::tokens(tokens(200)),
            answer: tokens(200).collect(),
            streams: 64,
            runs: size.pick(2, 10),
            targets: Targets {
                min_tok_s: Some(100_000.0),
                max_added_ttft_p50: Some(10.0),
                ..Targets::default()
            },
        },
        Scenario {
            name: "paced 10 ms/token, 1 stream",
            reply: Reply::tokens(tokens(paced_tokens)).token_delay(paced),
            answer: tokens(paced_tokens).collect(),
            streams: 1,
            runs: size.pick(2, 5),
            targets: Targets {
                max_cpu_per_1k: Some(100.0),
                max_added_ttft_p50: Some(0.5),
                ..Targets::default()
            },
        },
        Scenario {
            name: "paced 10 ms/token, 64 streams",
            reply: Reply::tokens(tokens(paced_tokens)).token_delay(paced),
            answer: tokens(paced_tokens).collect(),
            streams: 64,
            runs: size.pick(1, 3),
            targets: Targets {
                max_cpu_per_1k: Some(25.0),
                max_added_ttft_p50: Some(5.0),
                full_rate: true,
                ..Targets::default()
            },
        },
    ]
}

/// Resident memory per idle worker: 1,000 workers on a fresh backend.
async fn idle_memory(mock: &MockOpenAi, out: &mut Vec<Figure>) -> Result<(), BenchError> {
    let (yoi, client, _dir) = start(mock).await?;
    let before = yoi.rss_kib();
    for _ in 0..1000 {
        client
            .create_worker("/api/runtimes/backend-internal")
            .await?;
    }
    let after = yoi.rss_kib();
    out.push(
        Figure::new(
            "resident memory per idle worker (1,000)",
            (after - before) / 1000.0,
            "KiB",
        )
        .at_most(12.0),
    );
    yoi.stop().await;
    Ok(())
}

/// `n` subscribers of one worker while it streams `deltas` at 1,000 events/s:
/// resets seen, and delivery lag (receipt minus the event's `at`).
async fn fan_out(
    mock: &MockOpenAi,
    n: usize,
    deltas: usize,
    out: &mut Vec<Figure>,
) -> Result<(), BenchError> {
    let (yoi, client, _dir) = start(mock).await?;
    mock.set_default(Reply::tokens(tokens(deltas)).token_delay(Duration::from_millis(1)));
    let worker = client
        .create_worker("/api/runtimes/backend-internal")
        .await?;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut socket = client.events(&worker).await?;
        tasks.push(tokio::spawn(async move {
            let mut lags = Vec::new();
            let mut resets = 0;
            loop {
                let Ok(Some(Ok(frame))) =
                    tokio::time::timeout(Duration::from_secs(60), socket.next()).await
                else {
                    break;
                };
                let Message::Text(text) = frame else { continue };
                let now = std::time::SystemTime::now();
                if text.contains("\"reset\":true") {
                    resets += 1;
                }
                if text.contains("\"type\":\"assistant_delta\"") {
                    if let Some(lag) = lag_of(&text, now) {
                        lags.push(lag);
                    }
                } else if text.contains("\"type\":\"run_completed\"") {
                    break;
                }
            }
            (lags, resets)
        }));
    }
    client
        .post(&format!("{worker}/input"), json!({"text": "fan out"}))
        .await?;
    let mut lags = Vec::new();
    let mut resets = 0;
    for t in tasks {
        let (l, r) = t
            .await
            .map_err(|_| BenchError::Shape("a subscriber failed"))?;
        lags.extend(l);
        resets += r;
    }
    #[allow(clippy::cast_precision_loss)]
    out.push(
        Figure::new(
            &format!("fan-out {n} subscribers: resets"),
            resets as f64,
            "",
        )
        .at_most(0.0),
    );
    out.push(Figure::new(
        &format!("fan-out {n} subscribers: delivery lag p50"),
        quantile_ms(&mut lags, 0.5),
        "ms",
    ));
    let mut p99 = Figure::new(
        &format!("fan-out {n} subscribers: delivery lag p99"),
        quantile_ms(&mut lags, 0.99),
        "ms",
    );
    if n >= 500 {
        p99 = p99.at_most(15.0);
    }
    out.push(p99);
    yoi.stop().await;
    Ok(())
}

/// Receipt time minus the event's `at` (millisecond precision).
fn lag_of(text: &str, now: std::time::SystemTime) -> Option<Duration> {
    let at = text.split("\"at\":\"").nth(1)?.split('"').next()?;
    let stamped = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let stamped = std::time::SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(stamped.timestamp_millis()).ok()?);
    Some(now.duration_since(stamped).unwrap_or_default())
}

pub(crate) async fn start(mock: &MockOpenAi) -> Result<(Yoi, Client, TempDir), BenchError> {
    let dir = TempDir::new("relay")?;
    std::fs::write(
        dir.0.join("yoi.toml"),
        format!("bind = \"127.0.0.1:0\"\n{}", crate::LIMITS),
    )?;
    let env = vec![
        ("OPENAI_BASE_URL", mock.base_url()),
        ("OPENAI_API_KEY", "sk-bench".to_owned()),
        ("YOI_MODEL", "bench-model".to_owned()),
    ];
    let yoi = Yoi::start(&["serve"], &dir.0, &env, "open http://127.0.0.1:").await?;
    let client = Client::new(format!("http://127.0.0.1:{}", yoi.port), None);
    Ok((yoi, client, dir))
}

/// Every figure of the relay, or only the scenarios named by `only`.
pub async fn run(size: Size, only: Option<&str>) -> Result<Vec<Figure>, BenchError> {
    let mock = MockOpenAi::start().await;
    let mut out = Vec::new();
    let (yoi, client, _dir) = start(&mock).await?;
    let pipe = Pipe::start(&mock).await?;
    let chosen = |name: &str| only.is_none_or(|o| o.split('|').any(|o| name.contains(o)));
    for s in scenarios(size) {
        if chosen(s.name) {
            scenario(&s, &mock, &pipe, &yoi, &client, &mut out).await?;
        }
    }
    pipe.process.stop().await;
    if chosen("syscalls") {
        crate::syscalls::per_token(&mock, &yoi, &client, &mut out).await?;
    }
    yoi.stop().await;
    if chosen("resident memory") {
        idle_memory(&mock, &mut out).await?;
    }
    if chosen("fan-out 100") {
        fan_out(&mock, 100, size.pick(500, 2000), &mut out).await?;
    }
    if size == Size::Full && chosen("fan-out 500") {
        fan_out(&mock, 500, 2000, &mut out).await?;
    }
    Ok(out)
}

//! The clients: requests signed before the timed window, sent over keep-alive connections by a
//! minimal HTTP/1.1 client, and what they measured.

#[allow(unused_imports)]
use super::*;

/// One complete HTTP/1.1 request, bytes ready to write.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) bytes: Vec<u8>,
    /// The certifications of a batch (`bulk`): each recorded one (answered 201 or 200) counts as
    /// an operation. `None` for a request that is one operation.
    pub(crate) batch: Option<usize>,
}

impl Prepared {
    pub(crate) fn post(address: SocketAddr, path: &str, token: &str, body: &[u8]) -> Prepared {
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Prepared { bytes, batch: None }
    }
}

/// Signs `count` requests with `sign` on every core (before the timed window).
pub(crate) async fn sign_all<F>(count: usize, sign: F) -> Vec<Prepared>
where
    F: Fn(usize) -> Prepared + Send + Sync + 'static,
{
    let sign = Arc::new(sign);
    let threads = std::thread::available_parallelism().map_or(2, usize::from).max(1);
    let chunk = count.div_ceil(threads).max(1);
    let mut handles = Vec::new();
    for start in (0..count).step_by(chunk) {
        let sign = sign.clone();
        let end = (start + chunk).min(count);
        handles.push(tokio::task::spawn_blocking(move || (start..end).map(|index| sign(index)).collect::<Vec<_>>()));
    }
    let mut all = Vec::with_capacity(count);
    for handle in handles {
        all.extend(handle.await.expect("signing thread"));
    }
    all
}

/// How many distinct certifications the `retry` scenario records first, then sends again in turn.
pub(crate) const RETRIED: usize = 4_096;

pub(crate) async fn prepare(server: &Server, territory: &Territory, scenario: Scenario, count: usize) -> Vec<Prepared> {
    let when = occurred_at();
    let address = server.address;
    match scenario {
        Scenario::Bulk(size) => {
            // Batch j comes from association j mod A; its certifications go to the citizens
            // after those of the batch before.
            let associations: Vec<(String, Arc<str>, SecretKey)> = territory
                .associations
                .iter()
                .map(|partner| (partner.id.clone(), partner.token.clone(), partner.key.clone()))
                .collect();
            let citizens: Vec<String> = territory.citizens.iter().map(|citizen| citizen.id.clone()).collect();
            sign_all(count.div_ceil(size), move |batch| {
                let (id, token, key) = &associations[batch % associations.len()];
                let certifications: Vec<Value> = (0..size)
                    .map(|item| {
                        let Value::Object(object) = json!({
                            "action_id": uuid::Uuid::new_v4().to_string(),
                            "association_id": id,
                            "citizen_id": citizens[(batch * size + item) % citizens.len()],
                            "category": "ecologie",
                            "quantity": 1,
                            "occurred_at": when,
                        }) else {
                            unreachable!("an object")
                        };
                        Value::Object(ygor_crypto::sign_object(SignedKind::Certification, object, key).expect("sign"))
                    })
                    .collect();
                let body = serde_json::to_vec(&json!({ "certifications": certifications })).expect("json");
                Prepared { batch: Some(size), ..Prepared::post(address, "/v1/certifications/batch", token, &body) }
            })
            .await
        }
        Scenario::Retry => {
            let originals = Box::pin(prepare(server, territory, Scenario::Certify, RETRIED.min(count))).await;
            let recorded = drive(address, originals.clone(), 32, 3_600.0).await;
            assert!(recorded.errors.is_empty(), "recording the originals: {}", recorded.errors_text());
            originals.iter().cycle().take(count).cloned().collect()
        }
        Scenario::Certify | Scenario::Hot => {
            // Request j goes to association j mod A (or the hot one) and citizen j mod C, so that
            // the N requests in flight at any time touch N different aggregates (when N <= A).
            let associations: Vec<(String, Arc<str>, SecretKey)> = match scenario {
                Scenario::Hot => {
                    vec![(territory.hot.id.clone(), territory.hot.token.clone(), territory.hot.key.clone())]
                }
                _ => territory
                    .associations
                    .iter()
                    .map(|partner| (partner.id.clone(), partner.token.clone(), partner.key.clone()))
                    .collect(),
            };
            let citizens: Vec<String> = territory.citizens.iter().map(|citizen| citizen.id.clone()).collect();
            sign_all(count, move |index| {
                let (id, token, key) = &associations[index % associations.len()];
                let Value::Object(object) = json!({
                    "action_id": uuid::Uuid::new_v4().to_string(),
                    "association_id": id,
                    "citizen_id": citizens[index % citizens.len()],
                    "category": "ecologie",
                    "quantity": 1,
                    "occurred_at": when,
                }) else {
                    unreachable!("an object")
                };
                let signed = ygor_crypto::sign_object(SignedKind::Certification, object, key).expect("sign");
                Prepared::post(address, "/v1/certifications", token, &serde_json::to_vec(&signed).expect("json"))
            })
            .await
        }
        Scenario::Redeem => {
            let funded = &territory.citizens[..territory.funded.max(1)];
            let vouchers: Vec<String> = futures::stream::iter(0..count)
                .map(|index| {
                    let citizen = &funded[index % funded.len()];
                    async move {
                        let answer = server
                            .expect(
                                "/v1/me/vouchers",
                                &citizen.token,
                                &json!({ "amount": REDEEM_AMOUNT }),
                                StatusCode::CREATED,
                            )
                            .await;
                        answer["voucher"].as_str().expect("voucher").to_owned()
                    }
                })
                .buffered(32)
                .collect()
                .await;
            let venues: Vec<(String, Arc<str>, SecretKey)> = territory
                .venues
                .iter()
                .map(|partner| (partner.id.clone(), partner.token.clone(), partner.key.clone()))
                .collect();
            sign_all(count, move |index| {
                let (id, token, key) = &venues[index % venues.len()];
                let Value::Object(object) = json!({
                    "redemption_id": uuid::Uuid::new_v4().to_string(),
                    "venue_id": id,
                    "voucher": vouchers[index],
                    "amount": REDEEM_AMOUNT,
                }) else {
                    unreachable!("an object")
                };
                let signed = ygor_crypto::sign_object(SignedKind::Redemption, object, key).expect("sign");
                Prepared::post(address, "/v1/redemptions", token, &serde_json::to_vec(&signed).expect("json"))
            })
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Driving the load

/// A keep-alive HTTP/1.1 connection that sends prepared requests and reads each answer's status
/// line, headers and `content-length` body: all a client needs to know that the request was served.
pub(crate) struct HttpConnection {
    pub(crate) stream: tokio::net::TcpStream,
    pub(crate) buffer: Vec<u8>,
}

impl HttpConnection {
    pub(crate) async fn open(address: SocketAddr) -> std::io::Result<HttpConnection> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection { stream, buffer: Vec::with_capacity(8192) })
    }

    /// Sends one request and returns the status of its answer, once the whole answer is read,
    /// and for a batch the certifications it recorded (answered 201, or 200 for a retry).
    pub(crate) async fn exchange(&mut self, request: &[u8], batch: bool) -> std::io::Result<(u16, usize)> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, head, length)) = parse_answer(&self.buffer)?
                && self.buffer.len() >= length
            {
                let recorded = if batch { recorded_in(&self.buffer[head..length]) } else { 0 };
                self.buffer.drain(..length);
                return Ok((status, recorded));
            }
            self.buffer.reserve(4096);
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// How many results of a batch's answer say 201 or 200 (the answer is compact JSON): a count
/// that costs the client a scan, not a parse.
fn recorded_in(body: &[u8]) -> usize {
    body.windows(13).filter(|window| *window == b"\"status\":201," || *window == b"\"status\":200,").count()
}

/// The status, the length of the head, and the total length (head and body) of the answer at the
/// start of `buffer`, once its head has arrived.
pub(crate) fn parse_answer(buffer: &[u8]) -> std::io::Result<Option<(u16, usize, usize)>> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut answer = httparse::Response::new(&mut headers);
    match answer.parse(buffer).map_err(|error| invalid(error.to_string()))? {
        httparse::Status::Partial => Ok(None),
        httparse::Status::Complete(head) => {
            let length = answer
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case("content-length"))
                .and_then(|header| std::str::from_utf8(header.value).ok()?.trim().parse::<usize>().ok())
                .ok_or_else(|| invalid("an answer without content-length".to_owned()))?;
            Ok(Some((answer.code.unwrap_or(0), head, head + length)))
        }
    }
}

#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) ok: usize,
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) errors: BTreeMap<String, usize>,
    pub(crate) elapsed: f64,
    pub(crate) exhausted: bool,
}

impl Outcome {
    /// The outcomes of the client tasks added up (successes, latencies, errors by kind).
    pub(crate) async fn gather(workers: Vec<tokio::task::JoinHandle<Outcome>>, what: &str) -> Outcome {
        let mut merged = Outcome::default();
        for worker in workers {
            let outcome = worker.await.unwrap_or_else(|error| panic!("{what}: {error}"));
            merged.ok += outcome.ok;
            merged.latencies_us.extend(outcome.latencies_us);
            for (kind, count) in outcome.errors {
                *merged.errors.entry(kind).or_default() += count;
            }
        }
        merged
    }

    pub(crate) fn record(&mut self, sent: Instant) {
        self.record_many(sent, 1);
    }

    /// A request that completed `operations` operations (a batch's recorded certifications).
    pub(crate) fn record_many(&mut self, sent: Instant, operations: usize) {
        self.ok += operations;
        self.latencies_us.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub(crate) fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed
    }

    pub(crate) fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".to_owned();
        }
        self.errors.iter().map(|(status, count)| format!("{status}×{count}")).collect::<Vec<_>>().join(" ")
    }
}

/// N workers, each on its own connection, take the next prepared request until the time is up
/// or none is left.
pub(crate) async fn drive(address: SocketAddr, requests: Vec<Prepared>, concurrency: usize, seconds: f64) -> Outcome {
    let total = requests.len();
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        connections.push(HttpConnection::open(address).await.expect("connect to the server"));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for mut connection in connections {
        let (requests, next) = (requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut outcome = Outcome::default();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(index) else {
                    break;
                };
                let sent = Instant::now();
                match connection.exchange(&request.bytes, request.batch.is_some()).await {
                    Ok((status, recorded)) if (200..300).contains(&status) => match request.batch {
                        None => outcome.record(sent),
                        Some(size) => {
                            outcome.record_many(sent, recorded);
                            if recorded < size {
                                *outcome.errors.entry("refused in a batch".to_owned()).or_default() += size - recorded;
                            }
                        }
                    },
                    Ok((status, _)) => *outcome.errors.entry(status.to_string()).or_default() += 1,
                    Err(_) => {
                        *outcome.errors.entry("transport".to_owned()).or_default() += 1;
                        match HttpConnection::open(address).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            outcome
        }));
    }
    let mut merged = Outcome::gather(workers, "worker").await;
    merged.elapsed = started.elapsed().as_secs_f64();
    merged.exhausted = next.load(Ordering::Relaxed) >= total && merged.elapsed < seconds;
    merged.latencies_us.sort_unstable();
    merged
}

/// Samples the projection lag (log position − applied, from `GET /v1/status`) every 20 ms while
/// a run goes on; returns the largest seen.
pub(crate) fn sample_lag(server: &Server, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<i64> {
    let (client, url, token) =
        (server.client.clone(), format!("{}/v1/status", server.base_url), server.admin_token.clone());
    tokio::spawn(async move {
        let mut largest = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(response) = client.get(&url).bearer_auth(&token).send().await
                && let Ok(body) = response.json::<Value>().await
                && let (Some(log), Some(applied)) =
                    (body["log_position"].as_i64(), body["projection_position"].as_i64())
            {
                largest = largest.max(log - applied);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        largest
    })
}

// ---------------------------------------------------------------------------------------------
// The bare ceiling

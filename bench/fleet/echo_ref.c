/* A reference agent for bench/fleet/real_agents.py --reference: the least an MQTT echo agent
 * can do, as a control for the per-agent CPU figures. It is not Outpost and stores nothing.
 *
 * Why it exists: the per-agent CPU of `outpost run` falls as N grows (bench/RESULTS.md), though
 * each agent gets the same one job a second at every N. If this client, whose work per job is
 * fixed by construction (two reads, two writes, no threads, no allocation), shows the same
 * fall in the same harness, the fall belongs to the machine, not to the agent.
 *
 * Wire: MQTT 3.1.1 over one blocking TCP socket (TCP_NODELAY). Client id `outpost-ID`, clean
 * session, keepalive off; SUBSCRIBE `outpost/ID/jobs` at QoS 1; a retained `online` status on
 * `outpost/ID/status`. For each PUBLISH it sends the PUBACK (QoS 1), then a QoS 1 `result`
 * on `outpost/ID/results` with the job's id and its `params` as the output. The broker's
 * PUBACKs are read and dropped.
 *
 * Environment: OUTPOST_AGENT_ID, OUTPOST_UPLINK_MQTT_URL (mqtt://127.0.0.1:PORT), as the
 * harness gives `outpost run`. Exits 1 on any error; the harness reports it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd;
static unsigned char out[4096];

static void die(const char *what) {
  fprintf(stderr, "echo_ref: %s\n", what);
  exit(1);
}

static void write_all(const unsigned char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= (size_t)w;
  }
}

static void read_all(unsigned char *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) die("read (broker closed?)");
    p += r;
    n -= (size_t)r;
  }
}

/* Fixed header + remaining length, then the body in `body`. */
static void packet(unsigned char type, const unsigned char *body, size_t n) {
  unsigned char h[5];
  size_t k = 0;
  h[k++] = type;
  size_t len = n;
  do {
    unsigned char b = len % 128;
    len /= 128;
    h[k++] = b | (len ? 0x80 : 0);
  } while (len);
  if (k + n > sizeof out) die("packet too large");
  memcpy(out, h, k);
  memcpy(out + k, body, n);
  write_all(out, k + n);
}

static size_t put_str(unsigned char *p, const char *s, size_t n) {
  p[0] = (unsigned char)(n >> 8);
  p[1] = (unsigned char)n;
  memcpy(p + 2, s, n);
  return n + 2;
}

/* The next packet's type byte; its body is in buf, its length in *n. */
static unsigned char next(unsigned char *buf, size_t cap, size_t *n) {
  unsigned char t, b;
  read_all(&t, 1);
  size_t len = 0, mul = 1;
  do {
    read_all(&b, 1);
    len += (b & 127) * mul;
    mul *= 128;
  } while (b & 128);
  if (len > cap) die("packet larger than the buffer");
  read_all(buf, len);
  *n = len;
  return t;
}

/* The text from `key` to the end of its value: a string's contents, or a balanced object. */
static const char *find(const char *json, size_t n, const char *key, size_t *len) {
  size_t kl = strlen(key);
  for (size_t i = 0; i + kl < n; i++) {
    if (memcmp(json + i, key, kl)) continue;
    size_t j = i + kl;
    while (j < n && (json[j] == ' ' || json[j] == ':')) j++;
    if (j >= n) return 0;
    if (json[j] == '"') {
      size_t e = j + 1;
      while (e < n && json[e] != '"') e++;
      *len = e - j - 1;
      return json + j + 1;
    }
    if (json[j] == '{') {
      int depth = 0;
      for (size_t e = j; e < n; e++) {
        depth += json[e] == '{';
        depth -= json[e] == '}';
        if (!depth) {
          *len = e - j + 1;
          return json + j;
        }
      }
    }
    return 0;
  }
  return 0;
}

int main(void) {
  const char *id = getenv("OUTPOST_AGENT_ID");
  const char *url = getenv("OUTPOST_UPLINK_MQTT_URL");
  if (!id || !url) die("OUTPOST_AGENT_ID and OUTPOST_UPLINK_MQTT_URL are required");
  const char *colon = strrchr(url, ':');
  if (!colon) die("no port in the broker url");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  char jobs[128], results[128], status[128], cid[128], online[256];
  snprintf(jobs, sizeof jobs, "outpost/%s/jobs", id);
  snprintf(results, sizeof results, "outpost/%s/results", id);
  snprintf(status, sizeof status, "outpost/%s/status", id);
  snprintf(cid, sizeof cid, "outpost-%s", id);
  snprintf(online, sizeof online, "{\"state\":\"online\",\"agent_id\":\"%s\",\"version\":\"echo_ref\"}", id);

  unsigned char body[4096], in[4096];
  size_t k = put_str(body, "MQTT", 4);
  body[k++] = 4;    /* 3.1.1 */
  body[k++] = 0x02; /* clean session */
  body[k++] = 0;    /* keepalive off */
  body[k++] = 0;
  k += put_str(body + k, cid, strlen(cid));
  packet(0x10, body, k);
  size_t n;
  if (next(in, sizeof in, &n) != 0x20 || n < 2 || in[1] != 0) die("CONNACK refused");

  k = 0;
  body[k++] = 0;
  body[k++] = 1;
  k += put_str(body + k, jobs, strlen(jobs));
  body[k++] = 1;
  packet(0x82, body, k);
  if (next(in, sizeof in, &n) != 0x90) die("no SUBACK");

  k = put_str(body, status, strlen(status));
  memcpy(body + k, online, strlen(online));
  packet(0x31, body, k + strlen(online)); /* QoS 0, retained */

  unsigned seq = 0, pid = 1;
  char result[2048];
  for (;;) {
    unsigned char t = next(in, sizeof in, &n);
    if ((t & 0xf0) != 0x30) continue; /* PUBACKs of our results */
    int qos = (t >> 1) & 3;
    if (n < 2) die("short PUBLISH");
    size_t tl = ((size_t)in[0] << 8) | in[1];
    size_t p = 2 + tl;
    if (qos) {
      if (p + 2 > n) die("short PUBLISH");
      unsigned char ack[2] = {in[p], in[p + 1]};
      p += 2;
      packet(0x40, ack, 2);
    }
    const char *json = (const char *)in + p;
    size_t jl = n - p, idl = 0, pl = 0;
    const char *jid = find(json, jl, "\"id\"", &idl);
    const char *params = find(json, jl, "\"params\"", &pl);
    if (!jid || !params) die("a job without id or params");
    int rl = snprintf(result, sizeof result,
                      "{\"v\":1,\"type\":\"result\",\"seq\":%u,\"result\":{\"id\":\"%.*s\","
                      "\"state\":\"succeeded\",\"output\":%.*s}}",
                      ++seq, (int)idl, jid, (int)pl, params);
    if (rl < 0 || (size_t)rl >= sizeof result) die("result too large");
    pid = pid % 65535 + 1;
    k = put_str(body, results, strlen(results));
    body[k++] = (unsigned char)(pid >> 8);
    body[k++] = (unsigned char)pid;
    memcpy(body + k, result, (size_t)rl);
    packet(0x32, body, k + (size_t)rl);
  }
}

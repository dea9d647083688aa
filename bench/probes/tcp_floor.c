// Diagnostic for issue 14 (not a target): the kernel floor of a loopback HTTP check.
// gcc -O2 -o /tmp/tcp_floor bench/probes/tcp_floor.c && /tmp/tcp_floor PORT 5000
// (PORT: target/release/http_check_server prints it; keep its stdin open).
// One fresh TCP connection per request, as a check makes: socket, connect, write the
// request, read the answer until the server closes, close. CPU per connection (rusage).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int port = atoi(argv[1]), n = atoi(argv[2]);
  const char *req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: floor\r\nConnection: close\r\n\r\n";
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
  char buf[16384];
  struct rusage r0, r1; getrusage(RUSAGE_SELF, &r0);
  for (int i = 0; i < n; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (void *)&a, sizeof a)) { perror("connect"); return 1; }
    write(s, req, strlen(req));
    while (read(s, buf, sizeof buf) > 0) {}
    close(s);
  }
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
               (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  printf("%.1f us CPU per connection\n", cpu / n * 1e6);
  return 0;
}

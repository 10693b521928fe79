/* worker TABLE "Bearer <key>" [PERMISSION]: validates one key against the
 * host's shared table, as a gateway's request path would. */
#include <edgekey/edgekey.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: worker TABLE AUTHORIZATION [PERMISSION]\n"); return 2; }
  ek_validator *v;
  int rc = ek_open(argv[1], &v);
  if (rc != 0) { fprintf(stderr, "%s\n", ek_strerror(rc)); return 2; }
  ek_request req = {.authorization = argv[2], .permission = argc > 3 ? argv[3] : NULL};
  ek_result res;
  ek_validate(v, &req, &res);
  printf("%d %s %s\n", res.status, ek_code_name(res.code), res.key_id);
  ek_close(v);
  return res.status == 200 ? 0 : 1;
}

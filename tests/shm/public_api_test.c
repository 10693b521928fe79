/* Compiles and links against the installed-style public header and the
 * shared library only: what a C worker sees. */
#include <edgekey/edgekey.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  ek_validator *v = NULL;
  int rc = ek_open("ektest-public-api-no-such-table", &v);
  if (rc != EK_ERR_NO_TABLE || v != NULL) {
    fprintf(stderr, "ek_open on a missing table: got %d, want %d\n", rc, EK_ERR_NO_TABLE);
    return 1;
  }
  if (strcmp(ek_code_name(EK_CODE_INSUFFICIENT_PERMISSION), "insufficient_permission") != 0) return 1;
  if (strstr(ek_strerror(EK_ERR_NO_TABLE), "edgekeyd") == NULL) return 1;
  ek_close(NULL);
  puts("public API ok");
  return 0;
}

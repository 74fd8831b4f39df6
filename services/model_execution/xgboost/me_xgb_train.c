/*
 * me_xgb_train.c - a test tool, not part of the shim: trains an XGBoost
 * binary:logistic model on the first ROWS rows of a LIBSVM-format file
 * (heart_scale: labels +1/-1 become 1/0, absent features 0) and saves it,
 * so the contract suite has a real XGBoost artifact to register and serve
 * (the Training service has no XGBoost back end yet).
 *   me_xgb_train FILE N_FEATURES ROWS OUT.json
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#define XGB_OK(call)                                                                                         \
  do {                                                                                                       \
    if ((call) != 0) {                                                                                       \
      fprintf(stderr, "me_xgb_train: %s: %s\n", #call, XGBGetLastError());                                   \
      return 1;                                                                                              \
    }                                                                                                        \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: me_xgb_train FILE N_FEATURES ROWS OUT.json\n");
    return 2;
  }
  size_t nf = strtoul(argv[2], NULL, 10), max_rows = strtoul(argv[3], NULL, 10), rows = 0;
  FILE *f = fopen(argv[1], "r");
  float *x = calloc(max_rows * nf + 1, sizeof *x), *y = calloc(max_rows + 1, sizeof *y);
  if (!f || !x || !y || !nf) {
    fprintf(stderr, "me_xgb_train: cannot read %s\n", argv[1]);
    return 1;
  }
  char line[4096];
  while (rows < max_rows && fgets(line, sizeof line, f)) {
    char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
    if (!tok) continue;
    y[rows] = strtod(tok, NULL) > 0;
    while ((tok = strtok_r(NULL, " \t\n", &save))) {
      unsigned long j = strtoul(tok, NULL, 10);
      char *colon = strchr(tok, ':');
      if (colon && j >= 1 && j <= nf) x[rows * nf + j - 1] = strtof(colon + 1, NULL);
    }
    rows++;
  }
  fclose(f);
  DMatrixHandle dm;
  BoosterHandle b;
  XGB_OK(XGDMatrixCreateFromMat(x, rows, nf, -1e30f, &dm)); /* nothing is missing */
  XGB_OK(XGDMatrixSetFloatInfo(dm, "label", y, rows));
  XGB_OK(XGBoosterCreate(&dm, 1, &b));
  XGB_OK(XGBoosterSetParam(b, "objective", "binary:logistic"));
  XGB_OK(XGBoosterSetParam(b, "max_depth", "3"));
  XGB_OK(XGBoosterSetParam(b, "eta", "0.3"));
  XGB_OK(XGBoosterSetParam(b, "nthread", "1"));
  for (int i = 0; i < 20; i++)
    XGB_OK(XGBoosterUpdateOneIter(b, i, dm));
  XGB_OK(XGBoosterSaveModel(b, argv[4]));
  XGBoosterFree(b);
  XGDMatrixFree(dm);
  free(x);
  free(y);
  return 0;
}

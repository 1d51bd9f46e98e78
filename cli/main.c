#include <stdio.h>
int main(void) { puts("grpcwire"); return 0; }

# shimkit_generate() - filled by codegen work

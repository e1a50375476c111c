// Anchor translation unit for the shared precompiled header.
#include "pch.h"

#pragma once
/// @file cdn.hpp
/// Umbrella header for sparc::cdn.

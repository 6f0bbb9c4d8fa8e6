// Anchor translation unit for the shared LibTorch precompiled header (cmake/Torch.cmake).

"""Pure maths of faces: alignment geometry, landmark regions, masks. No torch, no video."""
